"""Bookkeeping of the classifier robustness report (IN-1K, IN-C, mCE,
IN-A, IN-R): the sets, where their metrics are stored, and the table.

No model and no Runner here: ``stl_mm.apis.robustness`` runs the
evaluations; this module reads and writes ``WORK_DIR/<set>.metrics.json``
and builds the Markdown table of the FAN/STL papers (accuracies and mCE in
percent; a value computed over an incomplete ImageNet-C is marked "*").
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Tuple

__all__ = [
    'SETS', 'BASE_CONFIGS', 'COLUMNS', 'DASH', 'PARTIAL_SUFFIX',
    'DEFAULT_TOKEN_FUSION',
    'metrics_file', 'save_set_metrics', 'collect', 'build_table',
    'write_report'
]

SETS = ('imagenet-1k', 'imagenet-c', 'imagenet-a', 'imagenet-r')
#: set -> its dataset/evaluator config in configs/robustness/_base_/
BASE_CONFIGS = {
    'imagenet-1k': 'imagenet-1k-val.py',
    'imagenet-c': 'imagenet-c.py',
    'imagenet-a': 'imagenet-a.py',
    'imagenet-r': 'imagenet-r.py',
}
#: (column title, set, metric key) of the table.
COLUMNS = (
    ('IN-1K top-1', 'imagenet-1k', 'accuracy/top1'),
    ('IN-C acc', 'imagenet-c', 'imagenet-c/acc'),
    ('mCE ↓', 'imagenet-c', 'imagenet-c/mCE'),
    ('IN-A', 'imagenet-a', 'imagenet-a/top1'),
    ('IN-R', 'imagenet-r', 'imagenet-r/top1'),
)
DASH = '—'
#: head fusion of token models: the protocol of the published numbers
DEFAULT_TOKEN_FUSION = 'cls_plus_max'
#: suffix of a metric computed over an incomplete set
PARTIAL_SUFFIX = '_partial'


def metrics_file(work_dir: str, set_name: str) -> str:
    return osp.join(work_dir, f'{set_name}.metrics.json')


def save_set_metrics(work_dir: str, set_name: str, record: dict) -> None:
    """Write one set's ``{set, data_root, config, checkpoint, metrics}``."""
    os.makedirs(work_dir, exist_ok=True)
    with open(metrics_file(work_dir, set_name), 'w') as f:
        json.dump(record, f, indent=2)


def collect(work_dir: str) -> Dict[str, dict]:
    """The stored metrics of every set that has them."""
    found = {}
    for set_name in SETS:
        path = metrics_file(work_dir, set_name)
        if osp.isfile(path):
            with open(path) as f:
                found[set_name] = json.load(f)['metrics']
    return found


def _cell(metrics: Optional[dict], key: str):
    """(text, value, partial) of one table cell."""
    if not metrics:
        return DASH, None, False
    if key in metrics:
        return f'{metrics[key]:.2f}', metrics[key], False
    if key + PARTIAL_SUFFIX in metrics:
        value = metrics[key + PARTIAL_SUFFIX]
        return f'{value:.2f}*', value, True
    return DASH, None, False


def build_table(name: str, results: Dict[str, dict]
                ) -> Tuple[str, dict, bool]:
    """``(markdown, {column title: value}, partial)`` of one model."""
    header = ['Model', 'Fusion'] + [title for title, _, _ in COLUMNS]
    fusions = ', '.join(sorted({m['fusion'] for m in results.values()
                                if m and m.get('fusion')}))
    row, partial = [name, fusions or DASH], False
    record = {'Fusion': fusions or None}
    for title, set_name, key in COLUMNS:
        text, value, is_partial = _cell(results.get(set_name), key)
        row.append(text)
        record[title] = value
        partial = partial or is_partial
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] * len(header)) + '|',
             '| ' + ' | '.join(row) + ' |']
    if partial:
        lines.append('')
        lines.append('\\* computed on an incomplete ImageNet-C (see the '
                     'imagenet-c.json "partial" list).')
    return '\n'.join(lines) + '\n', record, partial


def write_report(work_dir: str, name: str, results: Dict[str, dict],
                 config: str, checkpoint: Optional[str]) -> str:
    """Write ``robustness_report.md`` and ``.json``; return the table."""
    table, record, partial = build_table(name, results)
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'robustness_report.md'), 'w') as f:
        f.write(table)
    with open(osp.join(work_dir, 'robustness_report.json'), 'w') as f:
        json.dump(dict(model=name, config=config, checkpoint=checkpoint,
                       table=record, partial_imagenet_c=partial,
                       sets={s: results.get(s) for s in SETS}), f, indent=2)
    return table
