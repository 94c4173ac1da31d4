"""Robustness metrics: ImageNet-C (accuracy, mCE) and ImageNet-A/R accuracy.

Both read only the classifier's ``pred_score`` (mmpretrain ``DataSample``);
how a token-labelling head fuses its class and token outputs into that score
is chosen in the model config (``model.head.fusion=...``), not here.

Result keys are documented in ``docs/robustness.md``.
"""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from stl_mm.registry import METRICS
from stl_mm.robustness.corruptions import (ALL_CORRUPTIONS,
                                           COMMON_CORRUPTIONS,
                                           resolve_corruptions)
from stl_mm.robustness.imagenet_c import (ALEXNET_ERRORS, SEVERITIES,
                                          aggregate_imagenet_c,
                                          write_outputs)
from stl_mm.robustness.ood_subsets import subset_indices
from stl_mm.robustness.report import PARTIAL_SUFFIX

__all__ = ['ImageNetCMetric', 'OODSubsetMetric', 'ALEXNET_ERRORS',
           'PARTIAL_SUFFIX']

def _scores_and_labels(data_samples: Sequence[dict]
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Stack ``pred_score`` (B, K) and the first ``gt_label`` (B,)."""
    try:
        scores = torch.stack([
            torch.as_tensor(ds['pred_score']).reshape(-1)
            for ds in data_samples
        ]).float()
    except KeyError:
        raise KeyError(
            'The robustness metrics read "pred_score" from the model output '
            '(mmpretrain DataSample); this model did not set it.') from None
    labels = torch.cat([
        torch.as_tensor(ds['gt_label']).reshape(-1)[:1]
        for ds in data_samples
    ]).to(device=scores.device, dtype=torch.long)
    return scores, labels


def _topk_hits(scores: torch.Tensor, labels: torch.Tensor,
               topk: Sequence[int]) -> Dict[int, torch.Tensor]:
    """Per sample, whether the label is among the top-k scores, for each k.

    With fewer than k classes, top-k counts every sample as correct.
    """
    maxk = min(max(topk), scores.shape[1])
    ranked = scores.topk(maxk, dim=1).indices
    hits = ranked == labels[:, None]
    return {k: hits[:, :min(k, maxk)].any(dim=1).cpu() for k in topk}


_CORRUPTION_ID = {name: i for i, name in enumerate(ALL_CORRUPTIONS)}


def _encode(corruption: str, severity: int, hit1: bool, hit5: bool):
    """A sample's ImageNet-C result as one int: corruption id, severity
    (4 bits), top-1 hit, top-5 hit; a tuple for names outside the 19."""
    name_id = _CORRUPTION_ID.get(corruption)
    if name_id is None or not 0 <= severity < 16:
        return (corruption, severity, bool(hit1), bool(hit5))
    return (((name_id << 4) | severity) << 2) | (int(hit1) << 1) | int(hit5)


@METRICS.register_module()
class ImageNetCMetric(BaseMetric):
    """Top-1/top-5 per (corruption, severity), mean accuracy and mCE.

    Every sample must carry ``corruption`` and ``severity`` in its metainfo
    (``stl_mm.ImageNetC`` provides them; keep them with
    ``PackInputs(meta_keys=(..., 'corruption', 'severity'))``).

    Definitions (accuracies in percent):

    * per pair: top-1 / top-5 over the images of (c, s);
    * ``<c>/top1``: mean over the severities of c;
    * ``<c>/CE`` = mean_s E(c, s) / A_c with E = 1 - top1 and A_c the
      AlexNet error of :data:`ALEXNET_ERRORS`, times 100 (common only);
    * ``mCE``: mean of CE over the 15 common corruptions (percent; upstream
      prints the fraction);
    * ``acc`` ("IN-C accuracy" of the FAN/STL tables): mean top-1 over all
      evaluated (corruption, severity) pairs, ``acc_top5`` likewise;
      ``acc_common`` / ``acc_extra`` over the 15 common / 4 extra ones.

    Relative mCE is not computed: it needs AlexNet's clean error, and the
    exact constant behind the published numbers could not be confirmed.

    Completeness: the reference set is the 19 corruptions x 5 severities of
    the released ImageNet-C. A requested pair without samples is an error
    unless ``allow_partial=True``. Any aggregate computed over fewer pairs
    than its definition needs (because pairs were missing or not requested)
    gets the suffix ``_partial`` (e.g. ``mCE_partial``) and is listed under
    ``partial`` in the JSON file, and a warning says what is missing.

    Args:
        corruptions: the corruptions expected (names or ``'all'``,
            ``'common'``, ``'extra'``); default: those of the dataset
            metainfo, else all 19.
        severities: the severities expected; default: the dataset's, else
            1..5.
        allow_partial: see above.
        per_corruption: also put ``<c>/top1`` and ``<c>/CE`` in the returned
            dict (default False: the log line stays short; the logged table
            and the JSON/CSV files always have everything).
        per_pair: also put ``<c>/<s>/top1`` and ``<c>/<s>/top5`` there.
        output_prefix: if set, write ``<prefix>.json`` and ``<prefix>.csv``.
        alexnet_errors: override :data:`ALEXNET_ERRORS`.
        collect_device, prefix: see mmengine ``BaseMetric``; the default
            prefix is ``imagenet-c``.
    """
    default_prefix = 'imagenet-c'

    def __init__(self,
                 corruptions=None,
                 severities: Optional[Sequence[int]] = None,
                 allow_partial: bool = False,
                 per_corruption: bool = False,
                 per_pair: bool = False,
                 output_prefix: Optional[str] = None,
                 alexnet_errors: Optional[Dict[str, float]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.corruptions = (None if corruptions is None else
                            resolve_corruptions(corruptions))
        self.severities = (None if severities is None else
                           [int(s) for s in severities])
        self.allow_partial = allow_partial
        self.per_corruption = per_corruption
        self.per_pair = per_pair
        self.output_prefix = output_prefix
        self.alexnet_errors = dict(alexnet_errors or ALEXNET_ERRORS)
        lacking = [c for c in COMMON_CORRUPTIONS
                   if c not in self.alexnet_errors]
        if lacking:
            raise ValueError(f'alexnet_errors lacks {", ".join(lacking)}.')

    # ------------------------------------------------------------------
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        scores, labels = _scores_and_labels(data_samples)
        hits = _topk_hits(scores, labels, (1, 5))
        try:
            corruptions = [str(ds['corruption']) for ds in data_samples]
            severities = [int(ds['severity']) for ds in data_samples]
        except KeyError:
            raise KeyError(
                'ImageNetCMetric needs "corruption" and "severity" in each '
                'data sample: use stl_mm.ImageNetC and keep both keys in '
                "PackInputs(meta_keys=(..., 'corruption', 'severity')).") \
                from None
        # one small int per sample (see _encode): ImageNet-C has 4.75M
        # images, and the results of all ranks are gathered on one
        self.results.extend(
            map(_encode, corruptions, severities, hits[1].tolist(),
                hits[5].tolist()))

    # ------------------------------------------------------------------
    def _expected_pairs(self) -> List[Tuple[str, int]]:
        meta = self.dataset_meta or {}
        corruptions = self.corruptions
        if corruptions is None:
            corruptions = list(meta.get('corruptions') or ALL_CORRUPTIONS)
        severities = self.severities
        if severities is None:
            severities = list(meta.get('severities') or SEVERITIES)
        return [(c, int(s)) for c in corruptions for s in severities]

    @staticmethod
    def _group(results: list) -> Dict[Tuple[str, int], dict]:
        """Per (corruption, severity): top-1, top-5 and sample count."""
        coded = np.fromiter((r for r in results if isinstance(r, int)),
                            dtype=np.int64)
        other = [r for r in results if not isinstance(r, int)]
        hit5 = coded & 1
        hit1 = (coded >> 1) & 1
        severity = (coded >> 2) & 15
        name_id = coded >> 6
        pairs = [(ALL_CORRUPTIONS[i], int(s)) for i, s in zip(
            *np.unique(np.stack([name_id, severity]), axis=1))] \
            if coded.size else []
        pairs += sorted({(r[0], int(r[1])) for r in other} - set(pairs))
        codes = {pair: i for i, pair in enumerate(pairs)}
        lookup = np.full((len(ALL_CORRUPTIONS), 16), -1, dtype=np.int64)
        for (name, sev), i in codes.items():
            if name in _CORRUPTION_ID and 0 <= sev < 16:
                lookup[_CORRUPTION_ID[name], sev] = i
        index = np.concatenate([
            lookup[name_id, severity],
            np.array([codes[(r[0], int(r[1]))] for r in other],
                     dtype=np.int64)
        ])
        top1 = np.concatenate(
            [hit1, np.array([r[2] for r in other], dtype=np.int64)])
        top5 = np.concatenate(
            [hit5, np.array([r[3] for r in other], dtype=np.int64)])
        n = np.bincount(index, minlength=len(codes))
        c1 = np.bincount(index, weights=top1, minlength=len(codes))
        c5 = np.bincount(index, weights=top5, minlength=len(codes))
        return {
            pair: dict(top1=100.0 * c1[i] / n[i], top5=100.0 * c5[i] / n[i],
                       num_samples=int(n[i]))
            for pair, i in codes.items()
        }

    def compute_metrics(self, results: list) -> dict:
        pairs = self._group(results)
        expected = self._expected_pairs()
        unexpected = sorted(set(pairs) - set(expected))
        if unexpected:
            raise ValueError(
                'ImageNetCMetric got samples of (corruption, severity) pairs '
                'it was not configured for: ' +
                ', '.join(f'{c}/{s}' for c, s in unexpected[:20]) +
                '. Align the metric\'s corruptions/severities with the '
                'dataset (or leave them None to follow the dataset).')
        missing = [p for p in expected if p not in pairs]
        if missing and not self.allow_partial:
            raise ValueError(
                f'ImageNetCMetric: {len(missing)} expected (corruption, '
                'severity) pair(s) have no samples: ' +
                ', '.join(f'{c}/{s}' for c, s in missing[:30]) +
                '. Pass allow_partial=True to report the rest (aggregates '
                'are then marked "_partial").')
        summary, details, partial, rows = aggregate_imagenet_c(
            pairs, self.alexnet_errors)
        not_evaluated = [[c, s] for c in ALL_CORRUPTIONS for s in SEVERITIES
                         if (c, s) not in pairs]
        if partial:
            msg = ('ImageNetCMetric: the evaluated set lacks '
                   f'{len(not_evaluated)} of the 95 standard (corruption, '
                   'severity) pairs (' + ', '.join(
                       f'{c}/{s}' for c, s in not_evaluated[:15]) +
                   (', ...' if len(not_evaluated) > 15 else '') +
                   '); these aggregates are partial: ' + ', '.join(partial))
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)
        self._log_table(details, summary)
        payload = dict(
            summary=summary,
            corruptions=details,
            partial=partial,
            missing_pairs=[[c, s] for c, s in missing],
            not_evaluated_pairs=not_evaluated,
            num_samples=len(results),
            alexnet_errors={c: self.alexnet_errors[c]
                            for c in COMMON_CORRUPTIONS},
            units=dict(accuracy='percent', CE='percent', mCE='percent'),
        )
        write_outputs(self.output_prefix, payload, rows)

        out = dict(summary)
        for c, info in details.items():
            suffix = PARTIAL_SUFFIX if info['partial'] else ''
            if self.per_corruption:
                out[f'{c}/top1{suffix}'] = info['top1']
                if info.get('CE') is not None:
                    out[f'{c}/CE{suffix}'] = info['CE']
            if self.per_pair:
                for s, res in info['severities'].items():
                    out[f'{c}/{s}/top1'] = res['top1']
                    out[f'{c}/{s}/top5'] = res['top5']
        return out

    @staticmethod
    def _log_table(details: dict, summary: dict) -> None:
        lines = [f'{"corruption":<18} {"top1":>7} {"CE":>7}  ' +
                 ' '.join(f's{s:<5}' for s in SEVERITIES)]
        for c, info in details.items():
            per = ' '.join(
                f'{info["severities"][str(s)]["top1"]:6.2f}'
                if str(s) in info['severities'] else f'{"-":>6}'
                for s in SEVERITIES)
            ce = '' if info['CE'] is None else f'{info["CE"]:7.2f}'
            lines.append(f'{c:<18} {info["top1"]:7.2f} {ce:>7}  {per}')
        lines.append(', '.join(f'{k}: {v:.2f}' for k, v in summary.items()))
        print_log('ImageNet-C results\n' + '\n'.join(lines), logger='current')


@METRICS.register_module()
class OODSubsetMetric(BaseMetric):
    """Top-k accuracy on a 200-class subset (ImageNet-A, ImageNet-R).

    The classifier's ``pred_score`` over its own classes (1000 for ImageNet)
    is restricted to the subset's columns before top-k, as upstream does;
    label i of the dataset is column ``indices[i]``.

    Where the columns come from, first match wins:

    1. ``indices`` (list of ints);
    2. ``subset`` (``'imagenet_a'`` / ``'imagenet_r'``): the package's
       200-index list;
    3. the dataset metainfo ``logit_indices`` (set by ``stl_mm.ImageNetA`` /
       ``stl_mm.ImageNetR``).

    If the dataset metainfo also has ``logit_indices`` and they differ from
    1./2., that is an error (labels would be misaligned).

    Returned keys: ``top1``, ``top5`` (percent) under the prefix
    (default: ``imagenet-a``, ``imagenet-r`` or ``ood-subset``).

    Args:
        subset: see above.
        indices: see above.
        topk: the k of the top-k accuracies.
        output_prefix: if set, write ``<prefix>.json`` and ``<prefix>.csv``.
        collect_device, prefix: see mmengine ``BaseMetric``.
    """

    def __init__(self,
                 subset: Optional[str] = None,
                 indices: Optional[Sequence[int]] = None,
                 topk: Sequence[int] = (1, 5),
                 output_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        self.subset = subset
        if subset is not None:
            fixed = subset_indices(subset)
            if indices is not None and list(indices) != fixed:
                raise ValueError('Give subset or indices, not two different '
                                 'lists.')
            indices = fixed
        self.fixed_indices = None if indices is None else [
            int(i) for i in indices
        ]
        if prefix is None:
            name = (subset or '').lower().replace('_', '-')
            prefix = name if name else 'ood-subset'
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(int(k) for k in topk)
        self.output_prefix = output_prefix
        self._index_tensor: Optional[torch.Tensor] = None

    def _indices(self) -> torch.Tensor:
        if self._index_tensor is not None:
            return self._index_tensor
        meta = self.dataset_meta or {}
        from_meta = meta.get('logit_indices')
        if self.fixed_indices is not None:
            if from_meta is not None and list(from_meta) != \
                    self.fixed_indices:
                raise ValueError(
                    'OODSubsetMetric: the metric\'s indices differ from the '
                    'dataset\'s logit_indices; labels would be misaligned.')
            indices = self.fixed_indices
        elif from_meta is not None:
            indices = [int(i) for i in from_meta]
        else:
            raise ValueError(
                'OODSubsetMetric needs the subset columns: pass subset= or '
                'indices=, or use stl_mm.ImageNetA/ImageNetR (their metainfo '
                'has logit_indices).')
        if len(set(indices)) != len(indices):
            raise ValueError('OODSubsetMetric: indices repeat a column.')
        self._index_tensor = torch.tensor(indices, dtype=torch.long)
        return self._index_tensor

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        scores, labels = _scores_and_labels(data_samples)
        index = self._indices().to(scores.device)
        if int(index.max()) >= scores.shape[1]:
            raise ValueError(
                f'OODSubsetMetric: the model scores {scores.shape[1]} classes '
                f'but the subset needs column {int(index.max())}.')
        if int(labels.max()) >= index.numel() or int(labels.min()) < 0:
            raise ValueError(
                'OODSubsetMetric: a label is outside the subset '
                f'(0..{index.numel() - 1}).')
        hits = _topk_hits(scores.index_select(1, index), labels, self.topk)
        columns = [hits[k].tolist() for k in self.topk]
        self.results.extend(zip(*columns))

    def compute_metrics(self, results: list) -> dict:
        hits = np.asarray(results, dtype=np.float64).reshape(
            -1, len(self.topk))
        out = {f'top{k}': float(100.0 * hits[:, i].mean())
               for i, k in enumerate(self.topk)}
        payload = dict(
            summary=out,
            subset=self.subset or self.prefix,
            num_classes=int(self._indices().numel()),
            num_samples=int(hits.shape[0]),
            units=dict(accuracy='percent'))
        write_outputs(self.output_prefix, payload,
                       [dict(out, num_samples=int(hits.shape[0]))])
        return out
