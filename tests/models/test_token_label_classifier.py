"""Label maps -> crop targets (ROI-align geometry, flips, softmax,
smoothing), MixToken sampling, and the TokenLabelClassifier loss with
MixToken (LV-ViT) and with a preprocessor mix record (FAN)."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from stl_mm.models.utils.token_mix import MixParams
from stl_mm.models.utils.label_maps import (crop_token_targets,
                                            dense_label_maps, mix_flipped,
                                            sample_mix_token)
from stl_mm.registry import MODELS

TINY_LVVIT = dict(type='stl_mm.LVViT', img_size=32,
                  arch=dict(embed_dims=32, depth=2, num_heads=2,
                            stem_channels=8, skip_lam=2.0))
TINY_FAN = dict(type='stl_mm.FAN', out_type='cls_and_patch',
                arch=dict(embed_dims=32, depth=2, num_heads=2,
                          stem='hybrid', hybrid_depths=[1, 1],
                          dense_index=1))


def _full_maps(B=2, K=5, H=4, W=6, seed=0):
    """Maps that store every class (k = K): the dense map is exact."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, K, H, W, generator=gen)
    values, index = logits.topk(K, dim=1)
    return torch.stack([values, index.float()], 1), logits


def test_dense_maps_scatter_the_topk():
    maps, logits = _full_maps()
    assert torch.equal(dense_label_maps(maps, 5), logits)
    top2 = maps[:, :, :2]
    dense = dense_label_maps(top2, 5)
    assert (dense != 0).sum(1).max() == 2
    top1 = logits.max(1)
    assert torch.equal(dense.gather(1, top1.indices[:, None])[:, 0],
                       top1.values)


def test_full_crop_is_the_map_itself_and_flips_mirror_it():
    maps, logits = _full_maps()
    coords = torch.tensor([[0., 0., 1., 1., 0., 0.],
                           [0., 0., 1., 1., 1., 1.]])
    cls, tokens = crop_token_targets(maps, coords, (4, 6), 5, smoothing=0.)
    expect = logits.softmax(1)
    expect[1] = expect[1].flip(-1).flip(-2)
    assert torch.allclose(tokens, expect.flatten(2).transpose(1, 2),
                          atol=1e-6)
    assert torch.allclose(cls.sum(-1), torch.ones(2))


def test_a_non_square_crop_is_not_transposed():
    """Left half, full height (x1=0, x2=0.5): the token targets are the
    left three columns of the 4x6 map - upstream's (top, left, bottom,
    right) box order would take the top half instead."""
    maps, logits = _full_maps()
    coords = torch.tensor([[0., 0., .5, 1., 0., 0.]] * 2)
    _, tokens = crop_token_targets(maps, coords, (4, 3), 5, smoothing=0.)
    left = logits[..., :3].softmax(1).flatten(2).transpose(1, 2)
    assert torch.allclose(tokens, left, atol=1e-6)


def test_upstream_box_switch_is_upstream_get_label():
    """``box='upstream'``: TokenLabeling's get_label on the map flipped
    before the crop (its order), written out here with mmcv's roi_align:
    box (top, left, bottom, right) * W - 0.5, not pixel-aligned."""
    from mmcv.ops import roi_align
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 14, 14)
    top = logits.topk(5, dim=1)
    maps = torch.stack([top.values, top.indices.float()], 1)
    # a wide crop of the right part, mirrored; a tall one; the full image
    coords = torch.tensor([[.3, .1, .9, .5, 1., 0.],
                           [.1, .2, .4, .9, 0., 0.],
                           [0., 0., 1., 1., 1., 0.]])
    _, ours = crop_token_targets(maps, coords, (3, 4), 5, smoothing=0.,
                                 box='upstream')
    expect = []
    for m, c in zip(logits, coords):
        x1, y1, x2, y2, hflip, _ = c.tolist()
        if hflip:  # upstream flips the map, the crop box is in that frame
            m, (x1, x2) = m.flip(-1), (1 - x2, 1 - x1)
        box = torch.tensor([[0., y1, x1, y2, x2]])
        box[:, 1:] = box[:, 1:] * 14 - 0.5
        out = roi_align(m[None], box, (3, 4), 1.0, 0, 'avg', False)
        expect.append(out[0].softmax(0).flatten(1).t())
    assert torch.allclose(ours, torch.stack(expect), atol=1e-5)
    _, default = crop_token_targets(maps, coords, (3, 4), 5, smoothing=0.)
    assert not torch.allclose(default[:2], ours[:2], atol=1e-3)
    assert torch.allclose(default[2], ours[2], atol=1e-5)  # square crop
    with pytest.raises(ValueError, match='box must be'):
        crop_token_targets(maps, coords, (3, 4), 5, box='yxyx')


def test_smoothing_and_class_target():
    maps, logits = _full_maps(B=1)
    coords = torch.tensor([[0., 0., 1., 1., 0., 0.]])
    cls, tokens = crop_token_targets(maps, coords, (2, 3), 5, smoothing=0.1)
    assert torch.allclose(tokens.sum(-1), torch.ones(1, 6))
    assert tokens.min() >= 0.1 / 5 - 1e-7
    raw_cls, raw = crop_token_targets(maps, coords, (2, 3), 5,
                                      smoothing=0.)
    assert torch.allclose(cls, 0.9 * raw_cls + 0.02, atol=1e-6)
    assert torch.allclose(tokens, 0.9 * raw + 0.02, atol=1e-6)


def test_mix_token_box_and_lambda():
    np.random.seed(0)
    areas = []
    for _ in range(50):
        mask, lam = sample_mix_token((14, 14))
        if mask is None:
            assert lam == 1.
            continue
        assert mask.shape == (14, 14)
        assert abs((1 - lam) * 196 - mask.sum().item()) < 1e-6
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        assert mask.sum() == len(rows) * len(cols)  # one rectangle
        areas.append(1 - lam)
    assert 0.2 < np.mean(areas) < 0.8
    assert sample_mix_token((4, 4), prob=0.) == (None, 1.)
    t = torch.eye(2)
    assert torch.allclose(mix_flipped(t, 0.75), torch.tensor(
        [[0.75, 0.25], [0.25, 0.75]]))


def _classifier(backbone=TINY_LVVIT, mix_token=None, **kwargs):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='stl_mm.TokenLabelClassifier', backbone=backbone,
            head=dict(type='stl_mm.TokenLabelHead', num_classes=5,
                      in_channels=32, mode='student', label_smooth=0.1),
            mix_token=mix_token, **kwargs))


def _samples(B=4, map_hw=(4, 6), seed=0):
    maps, _ = _full_maps(B=B, H=map_hw[0], W=map_hw[1], seed=seed)
    samples = []
    for i in range(B):
        s = DataSample().set_gt_label(i % 5)
        s.set_metainfo(dict(img_path=f'img_{i}.png'))
        s.set_field(maps[i].half(), 'token_label_map')
        s.set_field(np.array([.1, .2, .8, .9, i % 2, 0], np.float32),
                    'token_label_coords')
        samples.append(s)
    return samples


def test_loss_with_mix_token_trains():
    torch.manual_seed(0)
    np.random.seed(1)
    model = _classifier(mix_token=dict(alpha=1.0))
    samples = _samples()
    losses = model.loss(torch.randn(4, 3, 32, 32), samples)
    assert set(losses) >= {'loss_cls', 'loss_dense'}
    sum(losses.values()).backward()
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None
    # the class target is the map averaged over the crop, mixed by lambda
    scores = torch.stack([s.gt_score for s in samples])
    assert torch.allclose(scores.sum(-1), torch.ones(4), atol=1e-5)


def test_loss_follows_a_preprocessor_mix_record():
    torch.manual_seed(0)
    model = _classifier(backbone=TINY_FAN)
    inputs = torch.randn(4, 3, 32, 32)
    plain = _samples()
    cls_t, tok_t = model.label_map_targets(inputs, plain)
    mixed = _samples()
    index = [1, 0, 3, 2]
    # CutMix of the top token row (pixels 0..16 of 32): from the partner
    mix = MixParams(mode='cutmix', lam=0.5, perm=torch.tensor(index),
                    box=(0, 0, 16, 32), img_hw=(32, 32))
    captured = {}
    original = model.head.loss

    def spy(feats, data_samples, token_targets=None):
        captured['tokens'] = token_targets
        return original(feats, data_samples, token_targets=token_targets)

    model.head.loss = spy
    model.loss(inputs, mixed, mix=mix)
    tokens = captured['tokens']
    assert torch.allclose(tokens[:, :2], tok_t[index][:, :2])
    assert torch.allclose(tokens[:, 2:], tok_t[:, 2:])
    expect = 0.5 * cls_t + 0.5 * cls_t[index]
    assert torch.allclose(torch.stack([s.gt_score for s in mixed]), expect,
                          atol=1e-6)


def test_clear_errors():
    with pytest.raises(ValueError, match='mix_token needs a backbone'):
        _classifier(backbone=TINY_FAN, mix_token=dict(alpha=1.0))
    with pytest.raises(ValueError, match='cls_target'):
        _classifier(label_map=dict(cls_target='gt'))
    model = _classifier()
    samples = _samples(B=2)
    samples[1].set_field(_samples(B=1, map_hw=(5, 5))[0].token_label_map,
                         'token_label_map')
    with pytest.raises(ValueError, match=r'img_1\.png.*one dump'):
        model.loss(torch.randn(2, 3, 32, 32), samples)
    bare = [DataSample().set_gt_label(0)]
    with pytest.raises(ValueError, match='LoadTokenLabelMap'):
        model.loss(torch.randn(1, 3, 32, 32), bare)
