"""Evaluate a classification checkpoint and write a report: per-class
precision/recall/F1/support, confusion matrix and one-vs-rest ROC curves.

The one report code path, used by ``tools/test.py --report DIR`` (any
classification config) and by the own-data workflow
(:mod:`stl_mm.apis.custom_data`). The test runs through
:func:`stl_mm.engine.build_test_runner` with mmengine's ``DumpResults``
collecting the per-image scores; the numbers come from
:func:`stl_mm.evaluation.classification_report`, the figures from
:mod:`stl_mm.visualization.report`.

Files written to the report folder (``PREFIX`` = ``name + '_'`` when a name
is given): ``PREFIXreport.json`` (metrics + report numbers + figure paths),
``PREFIXper_class.md``, ``PREFIXconfusion_matrix.png``,
``PREFIXroc_curves.png``, ``PREFIXpredictions.pkl``.
"""
import json
import os
import os.path as osp
from typing import Optional

import mmengine
from mmengine.config import Config
from mmengine.dist import is_main_process

from stl_mm.engine import build_test_runner
from stl_mm.engine.test_runner import plain_metrics
from stl_mm.evaluation import (classification_report, format_per_class_table,
                               predictions_to_arrays)
from stl_mm.utils.errors import UserError
from stl_mm.visualization import draw_confusion_matrix, draw_roc_curves

__all__ = ['evaluate_with_report', 'write_report']


def write_report(scores, labels, classes, report_dir: str,
                 name: Optional[str] = None,
                 title: Optional[str] = None,
                 metrics: Optional[dict] = None) -> dict:
    """Compute the report numbers and write the table and figures.

    Returns the report dict (:func:`stl_mm.evaluation.classification_report`)
    with ``figures = {confusion, roc}``, ``files = {json, table}`` (paths)
    and the evaluator's ``metrics`` when given.
    """
    report = classification_report(scores, labels, classes)
    if metrics is not None:
        report['metrics'] = metrics
    prefix = f'{name}_' if name else ''
    title = title or name or 'test set'
    os.makedirs(report_dir, exist_ok=True)
    report['figures'] = dict(
        confusion=draw_confusion_matrix(
            report['confusion_matrix'], report['classes'],
            osp.join(report_dir, f'{prefix}confusion_matrix.png'),
            title=f'{title}: confusion matrix'),
        roc=draw_roc_curves(
            report['roc'], osp.join(report_dir, f'{prefix}roc_curves.png'),
            title=f'{title}: ROC curves (one class vs. the rest)'))
    table = osp.join(report_dir, f'{prefix}per_class.md')
    with open(table, 'w', encoding='utf-8') as f:
        f.write(f'# {title}\n\ntop-1 {report["top1"]:.2f} %, '
                f'top-{report["topk"]} {report["top5"]:.2f} % on '
                f'{report["num_samples"]} images\n\n'
                f'{format_per_class_table(report)}\n')
    report['files'] = dict(
        table=table, json=osp.join(report_dir, f'{prefix}report.json'))
    with open(report['files']['json'], 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
        f.write('\n')
    return report


def evaluate_with_report(cfg: Config, checkpoint: str, report_dir: str,
                         name: Optional[str] = None,
                         dump_predictions: Optional[str] = None,
                         **kwargs) -> dict:
    """Test ``checkpoint`` with ``cfg`` and write the report.

    Args:
        cfg: a classification config (mmpretrain data samples with
            ``pred_score`` and ``gt_label``).
        checkpoint: the weights.
        report_dir: the report folder.
        name: file-name prefix and figure title (e.g. the model's name).
        dump_predictions: where to keep the raw predictions (default:
            ``PREFIXpredictions.pkl`` in ``report_dir``).
        **kwargs: ``work_dir``, ``launcher``, ``amp``,
            ``experiment_name`` of :func:`stl_mm.engine.build_test_runner`.

    Returns:
        ``dict(metrics=<the evaluator's metrics>, report=<write_report>)``
        (``report`` is None on processes other than the main one).

    Raises:
        UserError: the predictions have no class scores (not a
            classification config).
    """
    prefix = f'{name}_' if name else ''
    dump = dump_predictions or osp.join(report_dir, f'{prefix}'
                                        'predictions.pkl')
    mmengine.mkdir_or_exist(osp.dirname(osp.abspath(dump)))
    runner = build_test_runner(cfg, checkpoint, dump_predictions=dump,
                               **kwargs)
    metrics = plain_metrics(runner.test())
    if not is_main_process():
        return dict(metrics=metrics, report=None)
    predictions = mmengine.load(dump)
    if not predictions or 'pred_score' not in predictions[0]:
        raise UserError(
            '--report needs a classification config: its predictions have '
            'no class scores (pred_score).')
    scores, labels = predictions_to_arrays(predictions)
    meta = getattr(runner.test_dataloader.dataset, 'metainfo', {}) or {}
    classes = meta.get('classes')
    if classes is None or len(classes) != scores.shape[1]:
        classes = [str(k) for k in range(scores.shape[1])]
    report = write_report(scores, labels, list(classes), report_dir,
                          name=name, metrics=metrics)
    return dict(metrics=metrics, report=report)
