"""The numbers of a classification report, from class scores and labels.

:func:`classification_report` takes the softmax scores ``(N, K)`` and the
true labels ``(N,)`` of a test set and computes

- ``top1`` / ``top5`` (%, mmpretrain ``Accuracy``; top-5 is top-K for fewer
  than five classes),
- per class ``precision`` / ``recall`` / ``f1`` (%) and ``support``
  (images), mmpretrain ``SingleLabelMetric(average=None)`` on the arg-max
  labels, and their macro means,
- the confusion matrix (rows: true class, columns: predicted; mmpretrain
  ``ConfusionMatrix``),
- one-vs-rest ROC curves and their AUC per class (scikit-learn; a class
  without positives or negatives in the set has no curve: AUC ``None``) and
  the macro mean of the defined AUCs.

:func:`predictions_to_arrays` turns the records that mmengine's
``DumpResults`` writes (``pred_score``, ``gt_label`` per sample) into those
arrays; :func:`training_curves` reads the per-epoch training loss and
validation accuracy from mmengine's ``vis_data/scalars.json`` log.
"""
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmpretrain.evaluation import Accuracy, ConfusionMatrix, SingleLabelMetric

__all__ = ['classification_report', 'predictions_to_arrays',
           'training_curves', 'format_per_class_table']


def predictions_to_arrays(
        predictions: Sequence[dict]) -> Tuple[np.ndarray, np.ndarray]:
    """``(scores (N, K) float64, labels (N,) int64)`` of dumped prediction
    records (dicts with ``pred_score`` and ``gt_label``, as
    ``mmengine.evaluator.DumpResults`` writes them)."""
    if not predictions:
        raise ValueError('no predictions to report on (empty test set?)')
    scores = np.stack([np.asarray(torch.as_tensor(p['pred_score']).float())
                       for p in predictions]).astype(np.float64)
    labels = np.array([int(torch.as_tensor(p['gt_label']).reshape(-1)[0])
                       for p in predictions], dtype=np.int64)
    return scores, labels


def _roc(scores: np.ndarray, labels: np.ndarray, classes: Sequence[str]):
    from sklearn.metrics import auc, roc_curve
    curves = {}
    for k, name in enumerate(classes):
        positive = labels == k
        if positive.all() or not positive.any():
            curves[name] = dict(fpr=None, tpr=None, auc=None)
            continue
        fpr, tpr, _ = roc_curve(positive, scores[:, k])
        curves[name] = dict(fpr=fpr.tolist(), tpr=tpr.tolist(),
                            auc=float(auc(fpr, tpr)))
    return curves


def classification_report(scores: np.ndarray, labels: np.ndarray,
                          classes: Optional[Sequence[str]] = None) -> dict:
    """Report numbers of ``scores`` (N, K) against ``labels`` (N,).

    Returns a JSON-able dict: ``classes``, ``num_samples``, ``top1``,
    ``top5``, ``topk`` (the k of ``top5``), ``per_class[name] =
    {precision, recall, f1, support}``, ``macro = {precision, recall, f1,
    auc}``, ``confusion_matrix`` (K x K list, rows true, columns
    predicted) and ``roc[name] = {fpr, tpr, auc}``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0], ):
        raise ValueError(f'scores must be (N, K) and labels (N,), got '
                         f'{scores.shape} and {labels.shape}')
    num_classes = scores.shape[1]
    classes = list(classes) if classes is not None else [
        str(k) for k in range(num_classes)]
    if len(classes) != num_classes:
        raise ValueError(f'{len(classes)} class names for {num_classes} '
                         'score columns')
    score_t, label_t = torch.from_numpy(scores), torch.from_numpy(labels)
    k5 = min(5, num_classes)
    # one threshold (None: the arg-max counts whatever its score)
    (top1, ), (top5, ) = Accuracy.calculate(score_t, label_t, topk=(1, k5),
                                            thrs=(None, ))
    pred = score_t.argmax(1)
    precision, recall, f1, support = SingleLabelMetric.calculate(
        pred, label_t, average=None, num_classes=num_classes)
    matrix = ConfusionMatrix.calculate(pred, label_t,
                                       num_classes=num_classes)
    roc = _roc(scores, labels, classes)
    per_class = {
        name: dict(precision=float(precision[k]), recall=float(recall[k]),
                   f1=float(f1[k]), support=int(support[k]))
        for k, name in enumerate(classes)
    }
    aucs = [c['auc'] for c in roc.values() if c['auc'] is not None]
    macro = dict(
        precision=float(precision.mean()), recall=float(recall.mean()),
        f1=float(f1.mean()),
        auc=float(np.mean(aucs)) if aucs else None)
    return dict(classes=classes, num_samples=int(labels.size),
                top1=float(top1), top5=float(top5), topk=k5,
                per_class=per_class, macro=macro,
                confusion_matrix=matrix.tolist(), roc=roc)


def format_per_class_table(report: dict) -> str:
    """A Markdown table of the per-class numbers (and the macro means)."""
    lines = ['| class | precision (%) | recall (%) | F1 (%) | support | '
             'AUC |', '|---|---:|---:|---:|---:|---:|']
    for name in report['classes']:
        c, auc = report['per_class'][name], report['roc'][name]['auc']
        lines.append(f'| {name} | {c["precision"]:.2f} | {c["recall"]:.2f} '
                     f'| {c["f1"]:.2f} | {c["support"]} | '
                     f'{"—" if auc is None else f"{auc:.3f}"} |')
    m = report['macro']
    macro_auc = '—' if m['auc'] is None else f'{m["auc"]:.3f}'
    lines.append(f'| **macro mean** | {m["precision"]:.2f} | '
                 f'{m["recall"]:.2f} | {m["f1"]:.2f} | '
                 f'{report["num_samples"]} | '
                 f'{macro_auc} |')
    return '\n'.join(lines)


def _scalars_file(work_dir: str) -> Optional[str]:
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    return files[-1] if files else None


def training_curves(work_dir: str) -> Dict[str, List[float]]:
    """Per-epoch curves of the latest run in an mmengine work dir.

    Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON record
    per logged step: training records carry ``loss`` and ``epoch``,
    validation records ``accuracy/top1`` and ``step`` = the epoch).

    Returns ``dict(epoch=[...], loss=[...], val_epoch=[...],
    val_top1=[...])``: the mean logged training loss of each epoch and the
    validation top-1 (%) after each validated epoch; empty lists when there
    is no log.
    """
    curves = dict(epoch=[], loss=[], val_epoch=[], val_top1=[])
    path = _scalars_file(work_dir)
    if path is None:
        return curves
    losses = defaultdict(list)
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if 'loss' in record and 'epoch' in record:
                losses[int(record['epoch'])].append(float(record['loss']))
            elif 'accuracy/top1' in record:
                curves['val_epoch'].append(int(record.get('step', 0)))
                curves['val_top1'].append(float(record['accuracy/top1']))
    for epoch in sorted(losses):
        curves['epoch'].append(epoch)
        curves['loss'].append(float(np.mean(losses[epoch])))
    return curves
