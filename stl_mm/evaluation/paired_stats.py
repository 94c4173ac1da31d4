"""Statistics for comparing two models on the same images.

- :func:`paired_bootstrap` -- the accuracy difference of model B over model
  A with a percentile confidence interval from a paired bootstrap over
  images: the images are resampled with replacement and both models are
  scored on the same resample, so the interval reflects which images the
  two models get right, not only how many.
- :func:`binary_auc` -- the area under the ROC curve of a score for a
  binary label (the Mann-Whitney rank statistic, ties counted half): the
  probability that a random positive scores above a random negative.

Pure numpy; no model is run here.
"""
from typing import Dict, Sequence

import numpy as np

__all__ = ['paired_bootstrap', 'binary_auc']


def _as_sets(correct) -> np.ndarray:
    array = np.asarray(correct, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError('correct must be (N,) or (S, N) with N >= 1 images, '
                         f'got shape {np.shape(correct)}')
    return array


def paired_bootstrap(correct_a,
                     correct_b,
                     num_samples: int = 10000,
                     confidence: float = 0.95,
                     seed: int = 0) -> Dict[str, float]:
    """Accuracy gain of B over A with a paired bootstrap interval.

    Args:
        correct_a, correct_b: per-image correctness (0/1 or bool), shape
            ``(N,)`` for one set or ``(S, N)`` for S sets of the same N
            images (e.g. the corrupted copies of one val split); the
            accuracy is the mean over all ``S * N`` entries, and resampling
            draws image indices (columns), so an image keeps its S
            corrupted versions together.
        num_samples: bootstrap resamples.
        confidence: two-sided coverage of the interval.
        seed: seed of the resampling.

    Returns:
        ``a``, ``b``: the accuracies (%); ``gain``: ``b - a`` (points);
        ``low``, ``high``: the percentile interval of the gain;
        ``p_not_better``: the share of resamples with gain <= 0 (a one-sided
        bootstrap p-value of "B is better"); ``num_images`` N and
        ``num_sets`` S; ``confidence``, ``num_samples``.

    Raises:
        ValueError: shapes differ or are empty, or bad ``confidence`` /
            ``num_samples``.
    """
    a, b = _as_sets(correct_a), _as_sets(correct_b)
    if a.shape != b.shape:
        raise ValueError(f'correct_a and correct_b differ in shape: '
                         f'{a.shape} vs {b.shape}')
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    if num_samples < 1:
        raise ValueError(f'num_samples must be >= 1, got {num_samples}')
    num_sets, num_images = a.shape
    # per-image gain, averaged over the sets: (N,)
    diff = (b - a).mean(axis=0)
    rng = np.random.default_rng(seed)
    gains = np.empty(num_samples)
    chunk = max(1, 2_000_000 // num_images)
    for start in range(0, num_samples, chunk):
        n = min(chunk, num_samples - start)
        index = rng.integers(0, num_images, size=(n, num_images))
        gains[start:start + n] = diff[index].mean(axis=1)
    gains *= 100.
    tail = (1. - confidence) / 2.
    low, high = np.quantile(gains, [tail, 1. - tail])
    return dict(a=100. * float(a.mean()), b=100. * float(b.mean()),
                gain=100. * float(diff.mean()), low=float(low),
                high=float(high), p_not_better=float((gains <= 0).mean()),
                num_images=int(num_images), num_sets=int(num_sets),
                confidence=float(confidence), num_samples=int(num_samples))


def binary_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC of ``scores`` for the binary ``labels`` (True = positive).

    Equal to the probability that a random positive has a higher score than
    a random negative, ties counting one half (average ranks).

    Raises:
        ValueError: lengths differ, or there is no positive or no negative.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f'{scores.size} scores for {labels.size} labels')
    num_pos = int(labels.sum())
    num_neg = labels.size - num_pos
    if num_pos == 0 or num_neg == 0:
        raise ValueError('the AUC needs at least one positive and one '
                         f'negative, got {num_pos} and {num_neg}')
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    # average 1-based ranks over runs of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] !=
                                  sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.
    rank_sum = ranks[labels].sum()
    return float((rank_sum - num_pos * (num_pos + 1) / 2.) /
                 (num_pos * num_neg))
