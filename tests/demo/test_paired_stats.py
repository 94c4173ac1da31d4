"""stl_mm.evaluation.paired_stats against hand computations."""
import numpy as np
import pytest

from stl_mm.evaluation.paired_stats import binary_auc, paired_bootstrap


def test_binary_auc_by_hand():
    # positives 0.9, 0.4; negatives 0.5, 0.4, 0.1: of the 6 pairs the
    # positive wins 3 (0.9 > all three) + 1 (0.4 > 0.1) and ties 1 (0.4 =
    # 0.4, counted half), loses 1 -> (4 + 0.5) / 6
    scores = [0.9, 0.5, 0.4, 0.4, 0.1]
    labels = [True, False, True, False, False]
    assert binary_auc(scores, labels) == pytest.approx(4.5 / 6)
    assert binary_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert binary_auc([1, 2, 3, 4], [1, 1, 0, 0]) == 0.0
    assert binary_auc([5, 5, 5, 5], [1, 0, 1, 0]) == 0.5


def test_binary_auc_refuses_one_class():
    with pytest.raises(ValueError, match='at least one positive'):
        binary_auc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match='2 scores for 3 labels'):
        binary_auc([0.1, 0.2], [True, False, True])


def test_paired_bootstrap_by_hand():
    # 4 images: B fixes image 0, breaks nothing -> per-image gains
    # (1, 0, 0, 0); the point estimate is 25 points
    a = [0, 1, 1, 0]
    b = [1, 1, 1, 0]
    out = paired_bootstrap(a, b, num_samples=4000, seed=1)
    assert out['a'] == 50. and out['b'] == 75. and out['gain'] == 25.
    assert out['num_images'] == 4 and out['num_sets'] == 1
    # a resample's gain is 25 * (times image 0 is drawn): 0..100 points,
    # never negative; P(image 0 never drawn) = (3/4)^4 = 0.316
    assert out['low'] == 0. and out['high'] >= 50.
    assert out['p_not_better'] == pytest.approx(0.75**4, abs=0.03)

    # identical models: zero gain, zero width
    same = paired_bootstrap(a, a, num_samples=100)
    assert same['gain'] == same['low'] == same['high'] == 0.


def test_paired_bootstrap_sets_keep_images_together():
    """(S, N): the accuracy is over all S*N entries, the resampling over
    the N images (columns)."""
    a = np.array([[1, 0, 0], [1, 0, 0]])
    b = np.array([[1, 1, 0], [1, 0, 0]])
    out = paired_bootstrap(a, b, num_samples=2000, seed=0)
    assert out['num_sets'] == 2 and out['num_images'] == 3
    assert out['gain'] == pytest.approx(100. / 6)
    # per-image gains are (0, 0.5, 0): a resample's gain is a multiple of
    # 0.5 / 3 of 100 points
    step = 50. / 3
    for q in (out['low'], out['high']):
        assert q / step == pytest.approx(round(q / step))


def test_paired_bootstrap_interval_matches_the_normal_approximation():
    """500 images, B right on 30 more of them than A: the 95 % interval
    is close to gain +- 1.96 * sd / sqrt(N) of the per-image gains."""
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.7
    b = a.copy()
    flip = rng.choice(np.flatnonzero(~a), 40, replace=False)
    b[flip] = True
    worse = rng.choice(np.flatnonzero(a), 10, replace=False)
    b[worse] = False
    out = paired_bootstrap(a, b, num_samples=20000, seed=0)
    diff = b.astype(float) - a
    half = 1.96 * diff.std() / np.sqrt(diff.size) * 100
    assert out['gain'] == pytest.approx(6.0)
    assert out['low'] == pytest.approx(6.0 - half, abs=0.5)
    assert out['high'] == pytest.approx(6.0 + half, abs=0.5)
    assert out['p_not_better'] < 0.001


def test_paired_bootstrap_refuses_bad_input():
    with pytest.raises(ValueError, match='differ in shape'):
        paired_bootstrap([1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match='confidence'):
        paired_bootstrap([1, 0], [1, 0], confidence=1.5)
    with pytest.raises(ValueError, match='N >= 1 images'):
        paired_bootstrap([], [])
