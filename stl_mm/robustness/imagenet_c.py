"""ImageNet-C arithmetic: AlexNet-normalised corruption errors and mCE.

Definitions (Hendrycks & Dietterich, ICLR 2019; accuracies in percent): the
CE of a common corruption c is ``100 * mean_s(1 - top1_{c,s} / 100) /
A_c`` with the AlexNet error ``A_c``; mCE is the mean CE over the 15 common
corruptions. ``stl_mm.ImageNetCMetric`` collects the per-pair accuracies
and calls :func:`aggregate_imagenet_c`; no registry here.
"""
import csv
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log

from .corruptions import ALL_CORRUPTIONS, COMMON_CORRUPTIONS, EXTRA_CORRUPTIONS
from .report import PARTIAL_SUFFIX

__all__ = ['ALEXNET_ERRORS', 'SEVERITIES', 'aggregate_imagenet_c',
           'write_outputs']

#: AlexNet top-1 error on ImageNet-C, averaged over severities 1..5 (A_c),
#: for the 15 common corruptions (Hendrycks & Dietterich, ICLR 2019; the
#: constants every upstream mCE script uses).
ALEXNET_ERRORS = {
    'gaussian_noise': 0.886428,
    'shot_noise': 0.894468,
    'impulse_noise': 0.922640,
    'defocus_blur': 0.819880,
    'glass_blur': 0.826268,
    'motion_blur': 0.785948,
    'zoom_blur': 0.798360,
    'snow': 0.866816,
    'frost': 0.826572,
    'fog': 0.819324,
    'brightness': 0.564592,
    'contrast': 0.853204,
    'elastic_transform': 0.646056,
    'pixelate': 0.717840,
    'jpeg_compression': 0.606500,
}

SEVERITIES = (1, 2, 3, 4, 5)


def aggregate_imagenet_c(pairs: Dict[Tuple[str, int], dict],
                         alexnet_errors: Dict[str, float] = ALEXNET_ERRORS):
    """Per-corruption and overall ImageNet-C numbers from per-pair results.

    Args:
        pairs: ``{(corruption, severity): {'top1', 'top5', 'num_samples'}}``
            (accuracies in percent).
        alexnet_errors: the AlexNet errors that normalise the CE.

    Returns:
        ``(summary, details, partial, rows)``: ``summary`` the aggregates
        (``acc``, ``acc_top5``, ``mCE``, ``acc_common``, ``acc_extra``; a
        name ends in ``_partial`` when not every one of its pairs is
        present), ``details`` per corruption (``top1``, ``top5``, ``CE``,
        ``partial``, ``severities``), ``partial`` the names of the partial
        values and ``rows`` the CSV rows.
    """
    present = set(pairs)
    order = [c for c in ALL_CORRUPTIONS] + sorted(
        {c for c, _ in pairs} - set(ALL_CORRUPTIONS))
    details: Dict[str, dict] = {}
    rows: List[dict] = []
    for c in order:
        sevs = sorted(s for cc, s in pairs if cc == c)
        if not sevs:
            continue
        top1 = float(np.mean([pairs[(c, s)]['top1'] for s in sevs]))
        top5 = float(np.mean([pairs[(c, s)]['top5'] for s in sevs]))
        ce = None
        if c in COMMON_CORRUPTIONS:
            err = np.mean([1 - pairs[(c, s)]['top1'] / 100 for s in sevs])
            ce = float(100.0 * err / alexnet_errors[c])
        info = dict(
            group='common' if c in COMMON_CORRUPTIONS else 'extra',
            top1=top1, top5=top5, CE=ce,
            alexnet_error=alexnet_errors.get(c),
            partial=any((c, s) not in present for s in SEVERITIES),
            severities={str(s): pairs[(c, s)] for s in sevs})
        details[c] = info
        for s in sevs:
            rows.append(dict(corruption=c, group=info['group'],
                             severity=s, top1=pairs[(c, s)]['top1'],
                             top5=pairs[(c, s)]['top5'],
                             num_samples=pairs[(c, s)]['num_samples'],
                             CE=''))
        rows.append(dict(corruption=c, group=info['group'],
                         severity='mean', top1=top1, top5=top5,
                         num_samples=sum(pairs[(c, s)]['num_samples']
                                         for s in sevs),
                         CE='' if ce is None else ce))

    summary: Dict[str, float] = {}
    partial: List[str] = []

    def put(name: str, value: float, complete: bool) -> None:
        key = name if complete else name + PARTIAL_SUFFIX
        summary[key] = float(value)
        if not complete:
            partial.append(key)

    def complete_for(names) -> bool:
        return all((c, s) in present for c in names for s in SEVERITIES)

    all_pairs = list(pairs)
    put('acc', np.mean([pairs[p]['top1'] for p in all_pairs]),
        complete_for(ALL_CORRUPTIONS))
    put('acc_top5', np.mean([pairs[p]['top5'] for p in all_pairs]),
        complete_for(ALL_CORRUPTIONS))
    ces = [details[c]['CE'] for c in COMMON_CORRUPTIONS if c in details]
    if ces:
        put('mCE', np.mean(ces), complete_for(COMMON_CORRUPTIONS))
    for name, group in (('acc_common', COMMON_CORRUPTIONS),
                        ('acc_extra', EXTRA_CORRUPTIONS)):
        values = [pairs[p]['top1'] for p in all_pairs if p[0] in group]
        if values:
            put(name, np.mean(values), complete_for(group))
    partial += [f'{c}/top1{PARTIAL_SUFFIX}' for c, i in details.items()
                if i['partial']]
    return summary, details, partial, rows


def write_outputs(prefix: Optional[str], payload: dict,
                  rows: List[dict]) -> None:
    """``<prefix>.json`` (the payload) and ``<prefix>.csv`` (the rows);
    nothing without a prefix."""
    if not prefix:
        return
    prefix = osp.expanduser(prefix)
    if osp.dirname(prefix):
        os.makedirs(osp.dirname(prefix), exist_ok=True)
    with open(prefix + '.json', 'w') as f:
        json.dump(payload, f, indent=2)
    if rows:
        with open(prefix + '.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    print_log(f'Results written to {prefix}.json and {prefix}.csv',
              logger='current')
