"""Token-label generation, patch-aligned Mixup/CutMix and the two-view data
preprocessor."""
import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from stl_mm.models.utils import (MixParams, STLDataPreprocessor, TokenMix,
                                 generate_token_labels, mix_token_labels)
from stl_mm.registry import MODELS
from stl_mm.utils import register_all_modules

K = 7


@pytest.fixture(autouse=True, scope='module')
def _scope():
    register_all_modules()


def _seed(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


# ---------------------------------------------------------------------------
# token label generation
# ---------------------------------------------------------------------------
def test_gumbel_labels_are_reproducible_under_a_seed():
    logits = torch.randn(2, 9, K)
    torch.manual_seed(3)
    a = generate_token_labels(logits, 'gumbel')
    torch.manual_seed(3)
    b = generate_token_labels(logits, 'gumbel')
    torch.manual_seed(4)
    c = generate_token_labels(logits, 'gumbel')
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    g1, g2 = (torch.Generator().manual_seed(5) for _ in range(2))
    assert torch.equal(generate_token_labels(logits, generator=g1),
                       generate_token_labels(logits, generator=g2))


def test_hard_gumbel_is_smoothed_one_hot_sampled_from_softmax():
    a = 0.1
    logits = torch.tensor([2., 1., 0., -1.]).expand(1, 20000, 4)
    torch.manual_seed(0)
    labels = generate_token_labels(logits, 'gumbel', smoothing=a)
    assert labels.dtype == torch.float32 and not labels.requires_grad
    torch.testing.assert_close(labels.max(-1).values,
                               torch.full((1, 20000), 1 - a + a / 4))
    torch.testing.assert_close(labels.min(-1).values,
                               torch.full((1, 20000), a / 4))
    torch.testing.assert_close(labels.sum(-1), torch.ones(1, 20000))
    freq = (labels.argmax(-1)[0].bincount(minlength=4) / 20000.).float()
    torch.testing.assert_close(freq, logits[0, 0].softmax(0), atol=0.015,
                               rtol=0)
    # soft (relaxed) Gumbel keeps probabilities
    soft = generate_token_labels(logits[:, :5], 'gumbel', hard=False,
                                 tau=0.5, smoothing=0.)
    torch.testing.assert_close(soft.sum(-1), torch.ones(1, 5))
    assert bool((soft < 1).any())


def test_other_token_label_methods():
    logits = torch.randn(2, 5, K, requires_grad=True)
    a = 0.2
    argmax = generate_token_labels(logits, 'argmax', smoothing=a)
    expected = torch.nn.functional.one_hot(logits.argmax(-1), K) * (1 - a) \
        + a / K
    torch.testing.assert_close(argmax, expected.float())
    soft = generate_token_labels(logits, 'softmax', smoothing=0.)
    torch.testing.assert_close(soft, logits.detach().softmax(-1))
    mean = generate_token_labels(logits, 'mean', mean_method='argmax',
                                 smoothing=0.)
    assert mean.shape == (2, 5, K)
    for b in range(2):
        cls = int(logits.detach()[b].mean(0).argmax())
        assert torch.equal(mean[b], torch.nn.functional.one_hot(
            torch.full((5, ), cls), K).float())
    with pytest.raises(ValueError):
        generate_token_labels(logits, 'median')


# ---------------------------------------------------------------------------
# TokenMix
# ---------------------------------------------------------------------------
def _batch(B=4, H=64, W=48):
    _seed(0)
    inputs = torch.randn(B, 3, H, W)
    scores = torch.nn.functional.one_hot(torch.arange(B) % K, K).float()
    return inputs, scores


GRID = (4, 3)  # the 16-pixel token grid of a 64x48 image


def _cutmix_params(seed=0, **kwargs):
    kwargs.setdefault('patch_size', 16)
    mix = TokenMix(mixup_alpha=0., cutmix_alpha=1., **kwargs)
    inputs, scores = _batch()
    for s in range(seed, seed + 100):  # a non-trivial box
        _seed(s)
        params = mix.sample_params(4, inputs.shape[-2:])
        if 0 < params.lam < 1:
            return mix, params, inputs, scores
    raise AssertionError('no non-trivial CutMix box drawn')


def _mix_tokens(labels, params, grid=GRID):
    return mix_token_labels(labels, params.perm, params.token_weight(grid))


def test_partner_is_the_reversed_batch_as_timm():
    mix = TokenMix(patch_size=16)
    for s in range(5):
        _seed(s)
        assert torch.equal(mix.sample_params(6, (64, 48)).perm,
                           torch.tensor([5, 4, 3, 2, 1, 0]))


def test_cutmix_box_is_snapped_and_lambda_recomputed():
    mix, params, inputs, scores = _cutmix_params()
    assert params.mode == 'cutmix'
    top, left, bottom, right = params.box
    assert all(v % 16 == 0 for v in params.box)
    area = (bottom - top) * (right - left)
    assert params.lam == pytest.approx(1 - area / (64 * 48))
    mixed = mix.mix_images(inputs, params)
    partner = inputs.flip(0)
    inside = torch.zeros(64, 48, dtype=torch.bool)
    inside[top:bottom, left:right] = True
    assert torch.equal(mixed[..., inside], partner[..., inside])
    assert torch.equal(mixed[..., ~inside], inputs[..., ~inside])
    torch.testing.assert_close(
        mix.mix_targets(scores, params),
        params.lam * scores + (1 - params.lam) * scores.flip(0))


def _timm_batch_draws(H, W, mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0,
                      switch_prob=0.5):
    """The numpy draws of timm 0.5 ``Mixup._params_per_batch`` +
    ``cutmix_bbox_and_lam`` (mode 'batch', correct_lam), in their order:
    the oracle of the reference mode."""
    if np.random.rand() >= prob:
        return 'none', 1., None
    use_cutmix = np.random.rand() < switch_prob
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(np.random.beta(alpha, alpha))
    if not use_cutmix:
        return 'mixup', lam, None
    cut_h = int(H * np.sqrt(1 - lam))
    cut_w = int(W * np.sqrt(1 - lam))
    cy, cx = np.random.randint(0, H), np.random.randint(0, W)
    yl, yh = np.clip(cy - cut_h // 2, 0, H), np.clip(cy + cut_h // 2, 0, H)
    xl, xh = np.clip(cx - cut_w // 2, 0, W), np.clip(cx + cut_w // 2, 0, W)
    lam = 1. - (yh - yl) * (xh - xl) / float(H * W)
    return 'cutmix', lam, (int(yl), int(xl), int(yh), int(xh))


def test_reference_mode_reproduces_timm_pixel_boxes_exactly():
    """mix_token_labels=False: the official code's batch mixing, exactly
    (same draws, pixel box, lambda correction, reversed partner)."""
    H, W = 224, 176
    mix = TokenMix(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5,
                   prob=1.0, mix_token_labels=False)
    inputs = torch.randn(4, 3, H, W)
    scores = torch.nn.functional.one_hot(torch.arange(4), K).float()
    modes, off_grid = set(), 0
    for s in range(30):
        np.random.seed(s)
        expected = _timm_batch_draws(H, W)
        np.random.seed(s)
        out, out_scores, params = mix.mix(inputs, scores)
        assert (params.mode, params.box) == (expected[0], expected[2])
        assert params.lam == pytest.approx(expected[1], abs=1e-12)
        assert not params.mix_token_labels
        lam, partner = params.lam, inputs.flip(0)
        if params.mode == 'mixup':
            torch.testing.assert_close(out, lam * inputs + (1 - lam) * partner)
        else:
            t, l, b, r = params.box
            ref = inputs.clone()
            ref[..., t:b, l:r] = partner[..., t:b, l:r]
            assert torch.equal(out, ref)
            off_grid += any(v % 16 for v in params.box)
        torch.testing.assert_close(
            out_scores, lam * scores + (1 - lam) * scores.flip(0))
        assert float(params.token_weight((H // 16, W // 16)).abs().sum()) == 0
        modes.add(params.mode)
    assert modes == {'mixup', 'cutmix'} and off_grid > 0


def test_cutmix_token_labels_inside_the_box_come_from_the_other_image():
    mix, params, inputs, scores = _cutmix_params()
    h, w = GRID
    labels = torch.nn.functional.one_hot(
        torch.arange(4 * h * w).reshape(4, h * w) % K, K).float()
    labels = labels + torch.arange(4).view(4, 1, 1) * 10.  # tag the image
    mixed = _mix_tokens(labels, params)
    t, l, b, r = (v // 16 for v in params.box)
    for i in range(4):
        j = 3 - i
        for y in range(h):
            for x in range(w):
                n = y * w + x
                src = j if (t <= y < b and l <= x < r) else i
                assert torch.equal(mixed[i, n], labels[src, n])
    with pytest.raises(ValueError, match='does not tile'):
        params.token_weight((5, 3))


def test_mixup_mixes_token_labels_with_lambda():
    mix = TokenMix(mixup_alpha=0.8, cutmix_alpha=0.)
    inputs, scores = _batch()
    _seed(1)
    out, out_scores, params = mix.mix(inputs, scores)
    assert params.mode == 'mixup' and params.box is None
    lam, perm = params.lam, params.perm
    torch.testing.assert_close(out, lam * inputs + (1 - lam) * inputs[perm])
    torch.testing.assert_close(out_scores,
                               lam * scores + (1 - lam) * scores[perm])
    labels = torch.rand(4, 12, K)
    torch.testing.assert_close(_mix_tokens(labels, params),
                               lam * labels + (1 - lam) * labels[perm])


def test_inputs_are_not_mutated_and_switch_prob():
    inputs, scores = _batch()
    before, before_scores = inputs.clone(), scores.clone()
    mix = TokenMix(switch_prob=0.5, patch_size=16)
    modes = set()
    for s in range(40):
        _seed(s)
        out, out_scores = mix(inputs, scores)  # mmpretrain protocol
        modes.add(mix.sample_params(4, (64, 48)).mode)
    assert modes == {'mixup', 'cutmix'}
    assert torch.equal(inputs, before) and torch.equal(scores, before_scores)
    never = TokenMix(prob=0.)
    out, out_scores, params = never.mix(inputs, scores)
    assert params.mode == 'none' and params.lam == 1. and not params.mixed
    assert torch.equal(out, inputs)
    assert float(params.token_weight(GRID).sum()) == 0.


def test_token_mix_rejects_off_grid_images_and_builds_from_registry():
    mix = MODELS.build(dict(type='stl_mm.TokenMix', patch_size=16,
                            mixup_alpha=0.))
    with pytest.raises(ValueError, match='multiples'):
        mix.mix(torch.zeros(2, 3, 40, 48), torch.zeros(2, K))
    unknown = TokenMix(mixup_alpha=0.)  # stride not set (no STLClassifier)
    with pytest.raises(ValueError, match='token stride'):
        unknown.mix(torch.zeros(2, 3, 32, 32), torch.zeros(2, K))
    with pytest.raises(ValueError, match='tokens'):
        mix_token_labels(torch.zeros(2, 5, K), torch.arange(2),
                         torch.zeros(2, 2, 3))


# ---------------------------------------------------------------------------
# STLDataPreprocessor
# ---------------------------------------------------------------------------
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def _data(B=4, H=32, W=48, with_teacher=True):
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, 256, (B, 3, H, W), generator=g,
                           dtype=torch.uint8)
    samples = []
    for i in range(B):
        sample = DataSample().set_gt_label(i % K)
        if with_teacher:
            # HWC array, as PackInputs(algorithm_keys=['teacher_img']) packs
            teacher = torch.randint(0, 256, (H, W, 3), generator=g,
                                    dtype=torch.uint8).numpy()
            sample.set_field(teacher, 'teacher_img')
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _normalise(x, to_rgb=True):
    x = x.float()
    if to_rgb:
        x = x.flip(1)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(STD).view(1, 3, 1, 1)


def test_preprocessor_normalises_both_views_and_mixes_only_the_student():
    pre = MODELS.build(dict(
        type='stl_mm.STLDataPreprocessor', mean=MEAN, std=STD, to_rgb=True,
        num_classes=K, pass_mix=True,
        mix=dict(mixup_alpha=0., cutmix_alpha=1., patch_size=16)))
    data = _data()
    raw_inputs = data['inputs'].clone()
    teacher_raw = torch.stack([
        torch.from_numpy(s.teacher_img).permute(2, 0, 1)
        for s in data['data_samples']
    ])
    _seed(2)
    out = pre(data, training=True)
    assert torch.equal(data['inputs'], raw_inputs)  # not mutated
    torch.testing.assert_close(out['teacher_inputs'], _normalise(teacher_raw))
    samples = out['data_samples']
    assert all('teacher_img' not in s for s in samples)
    index = out['mix'].perm
    weight = out['mix'].token_weight((2, 3))
    # rebuild the student batch from the record: CutMix on the token grid
    clean = _normalise(raw_inputs)
    pixel_w = weight.repeat_interleave(16, 1).repeat_interleave(16, 2)
    pixel_w = pixel_w.unsqueeze(1)
    torch.testing.assert_close(out['inputs'],
                               clean * (1 - pixel_w) + clean[index] * pixel_w)
    lam = 1 - weight.flatten(1).mean(1)
    onehot = torch.nn.functional.one_hot(torch.arange(4) % K, K).float()
    torch.testing.assert_close(
        torch.stack([s.gt_score for s in samples]),
        lam[:, None] * onehot + (1 - lam[:, None]) * onehot[index])

    # validation: no mixing, no teacher view handed on
    val = pre(_data(with_teacher=False), training=False)
    assert 'teacher_inputs' not in val and 'mix' not in val
    torch.testing.assert_close(val['inputs'], clean)


def test_preprocessor_refuses_double_mixing():
    with pytest.raises(ValueError, match='twice'):
        STLDataPreprocessor(
            mix=dict(), batch_augments=dict(
                augments=[dict(type='Mixup', alpha=0.8)]))
    assert isinstance(STLDataPreprocessor(mix=dict()).mix, TokenMix)
    assert MixParams  # exported
