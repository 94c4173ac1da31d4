"""Bookkeeping of corruption (-C) sweeps for segmentation and detection.

``tools/corruption_sweep.py`` evaluates one checkpoint on a corrupted copy of
the test set per (corruption, severity) pair. This module holds what does
not need a model: where each pair's data and result live, how a test config
is pointed at a pair's data, and the per-corruption / overall summary with
its Markdown table.

Work-dir layout::

    WORK_DIR/results/<corruption>_s<severity>.json   one pair's metrics
    WORK_DIR/results/clean.json                      the clean set (optional)
    WORK_DIR/runs/<pair>/                            Runner logs of a pair
    WORK_DIR/summary.json, WORK_DIR/summary.md       the summary

A corrupted root holds one dataset root per pair,
``CORRUPTED_ROOT/<corruption>/<severity>/``, as written by
``tools/make_corrupted_dataset.py --layout cityscapes|coco``.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = [
    'TASKS', 'CLEAN', 'RESULTS_DIR', 'pair_root', 'pair_name',
    'result_file', 'load_result', 'save_result', 'is_done',
    'collect_results', 'test_dataset', 'test_split', 'point_test_set_at',
    'summarise', 'to_markdown'
]

#: task -> (generator layout, [(column title, metric key, scale)]).
#: CocoMetric reports AP as a fraction; the summary shows percentages, as
#: mmseg's IoUMetric does for mIoU.
TASKS: Dict[str, dict] = {
    'seg': dict(layout='cityscapes', metrics=[('mIoU', 'mIoU', 1.0)]),
    'det': dict(layout='coco', metrics=[('box AP', 'coco/bbox_mAP', 100.0),
                                        ('mask AP', 'coco/segm_mAP', 100.0)]),
}
CLEAN = 'clean'
RESULTS_DIR = 'results'


# --------------------------------------------------------------------------
# paths and result files
# --------------------------------------------------------------------------
def pair_root(corrupted_root: str, corruption: str, severity: int) -> str:
    """Dataset root of one pair: ``CORRUPTED_ROOT/<corruption>/<severity>``."""
    return osp.join(corrupted_root, corruption, str(severity))


def pair_name(corruption: str, severity: Optional[int]) -> str:
    return CLEAN if corruption == CLEAN else f'{corruption}_s{severity}'


def result_file(work_dir: str, corruption: str,
                severity: Optional[int] = None) -> str:
    """JSON file of a pair's result (``corruption='clean'`` for the clean
    set)."""
    return osp.join(work_dir, RESULTS_DIR,
                    pair_name(corruption, severity) + '.json')


def load_result(path: str) -> Optional[dict]:
    """A stored result, or None when missing or unreadable."""
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(
            record.get('metrics'), dict):
        return None
    return record


def save_result(path: str, record: dict) -> None:
    """Write a result atomically (an interrupted sweep leaves no half
    file)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)


def is_done(record: Optional[dict], checkpoint: str,
            metric_keys: Sequence[str]) -> bool:
    """Whether a stored result can be reused: it was computed from the same
    checkpoint file and has every summary metric."""
    if record is None:
        return False
    if osp.abspath(record.get('checkpoint', '')) != osp.abspath(checkpoint):
        return False
    return all(k in record['metrics'] for k in metric_keys)


def collect_results(work_dir: str) -> Dict[Tuple[str, Optional[int]], dict]:
    """Every stored result: ``{(corruption, severity): record}``, the clean
    one under ``('clean', None)``."""
    found = {}
    folder = osp.join(work_dir, RESULTS_DIR)
    if not osp.isdir(folder):
        return found
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.json'):
            continue
        record = load_result(osp.join(folder, name))
        if record is None:
            continue
        corruption = record.get('corruption')
        severity = record.get('severity')
        if corruption is None:
            continue
        found[(corruption, severity)] = record
    return found


# --------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------
def test_dataset(cfg):
    """The config's test dataset config (inside any dataset wrapper)."""
    dataset = cfg.test_dataloader.dataset
    # a wrapper (e.g. RepeatDataset) keeps the real one under 'dataset'
    while 'data_root' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset
    return dataset


def test_split(cfg, task: str) -> str:
    """The image folder of the test set that the -C copy must contain:
    ``val`` for ``leftImg8bit/val`` (Cityscapes), ``val2017`` for COCO."""
    prefix = test_dataset(cfg).get('data_prefix', {}) or {}
    if task == 'seg':
        path = prefix.get('img_path', 'leftImg8bit/val')
        parts = [p for p in str(path).replace('\\', '/').split('/') if p]
        if parts and parts[0] == 'leftImg8bit':
            parts = parts[1:]
        return '/'.join(parts) or 'val'
    path = prefix.get('img', 'val2017/')
    return str(path).replace('\\', '/').strip('/') or 'val2017'


def point_test_set_at(cfg, data_root: str, task: str) -> None:
    """Make the config's test set read ``data_root`` (in place).

    The dataset's ``data_root`` changes; for detection the COCO metric's
    ``ann_file`` follows it (the -C copies carry the annotations, linked or
    copied, under the same relative path).
    """
    dataset = test_dataset(cfg)
    dataset.data_root = data_root
    if task != 'det':
        return
    ann_file = dataset.get('ann_file')
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    for evaluator in evaluators:
        if 'ann_file' in evaluator and ann_file:
            evaluator.ann_file = (ann_file if osp.isabs(ann_file) else
                                  osp.join(data_root, ann_file))


# --------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------
def _mean(values: List[float]) -> Optional[float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else None


def summarise(results: Dict[Tuple[str, Optional[int]], dict],
              corruptions: Sequence[str], severities: Sequence[int],
              metrics: Sequence[Tuple[str, str, float]]) -> dict:
    """Per-corruption means over severities and the overall mean.

    Args:
        results: ``{(corruption, severity): record}`` (see
            :func:`collect_results`).
        corruptions / severities: the grid to summarise.
        metrics: ``(title, metric key, scale)`` triples.

    Returns:
        ``{'corruptions', 'severities', 'metrics': {title: {'key',
        'clean', 'per_corruption': {c: {'severities': {s: v}, 'mean',
        'complete'}}, 'mean', 'complete'}}}``. The overall mean is the mean
        of the per-corruption means (with every pair present, the mean over
        all pairs); a mean over an incomplete set of pairs is marked
        ``complete: False``. Missing values are ``None``.
    """
    summary = dict(corruptions=list(corruptions),
                   severities=list(severities), metrics={})
    for title, key, scale in metrics:
        def value(record):
            if record is None or key not in record['metrics']:
                return None
            v = record['metrics'][key]
            return None if v is None else float(v) * scale

        per_corruption = {}
        for c in corruptions:
            values = {s: value(results.get((c, s))) for s in severities}
            per_corruption[c] = dict(
                severities={str(s): v for s, v in values.items()},
                mean=_mean(list(values.values())),
                complete=all(v is not None for v in values.values()))
        means = [per_corruption[c]['mean'] for c in corruptions]
        summary['metrics'][title] = dict(
            key=key,
            scale=scale,
            clean=value(results.get((CLEAN, None))),
            per_corruption=per_corruption,
            mean=_mean(means),
            complete=all(per_corruption[c]['complete']
                         for c in corruptions))
    return summary


def _fmt(value: Optional[float], complete: bool = True) -> str:
    if value is None:
        return '—'
    return f'{value:.2f}' + ('' if complete else '*')


def to_markdown(summary: dict, title: Optional[str] = None) -> str:
    """One table per metric: a row per corruption (severities, mean) and a
    last row with the means over corruptions."""
    severities = summary['severities']
    lines = []
    if title:
        lines += [f'# {title}', '']
    incomplete = False
    for name, block in summary['metrics'].items():
        header = ['corruption'] + [f's{s}' for s in severities] + ['mean']
        lines.append(f'## {name}')
        lines.append('')
        if block['clean'] is not None:
            lines.append(f'clean: {_fmt(block["clean"])}')
            lines.append('')
        lines.append('| ' + ' | '.join(header) + ' |')
        lines.append('|' + '|'.join(['---'] + ['---:'] *
                                     (len(header) - 1)) + '|')
        for c in summary['corruptions']:
            row = block['per_corruption'][c]
            cells = [_fmt(row['severities'][str(s)]) for s in severities]
            cells.append(_fmt(row['mean'], row['complete']))
            incomplete |= not row['complete']
            lines.append('| ' + ' | '.join([c] + cells) + ' |')
        per_severity = [
            _mean([block['per_corruption'][c]['severities'][str(s)]
                   for c in summary['corruptions']]) for s in severities
        ]
        lines.append('| **mean** | ' + ' | '.join(
            [_fmt(v) for v in per_severity] +
            [f'**{_fmt(block["mean"], block["complete"])}**']) + ' |')
        lines.append('')
    if incomplete:
        lines.append('\\* mean over the severities evaluated so far (some '
                     'pairs are missing).')
        lines.append('')
    return '\n'.join(lines)
