"""The FAN variants beyond the single-width ones: the two-width
``fan_Xlarge_16_p4_hybrid`` and ``fan_small_12_p16_224_se_attn``.

Large variants are built on the meta device only; real compute uses tiny
custom archs.
"""
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from stl_mm.models.backbones import FAN
from stl_mm.models.backbones.fan_layers import (OverlapPatchEmbed,
                                                SEConvFFN, SqueezeExcite)
from stl_mm.models.utils import find_matching_arch

FIXTURES = (Path(__file__).resolve().parents[2].parent /
            'shared/fixtures/official')
NO_FIXTURES = 'upstream fixtures not found at ' + str(FIXTURES)
XL = 'fan_Xlarge_16_p4_hybrid'
SE = 'fan_small_12_p16_224_se_attn'
TINY_TWO_WIDTH = dict(embed_dims=16, depth=4, num_heads=2, stem='hybrid',
                      hybrid_depths=[1, 1], dense_index=1,
                      stage2=dict(first_block=2, embed_dims=24, num_heads=3))


def _meta(arch, **kwargs):
    with torch.device('meta'):
        return FAN(arch, **kwargs)


def _fixture(name):
    return json.loads((FIXTURES / f'{name}.json').read_text())


# ---------------------------------------------------------------------------
# fan_Xlarge_16_p4_hybrid
# ---------------------------------------------------------------------------
@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
def test_xlarge_param_count_and_keys():
    fixture = _fixture(XL)
    model = _meta(XL)
    assert model.embed_dims == 768
    count = sum(p.numel() for p in model.parameters())
    assert count + 768 * 1000 + 1000 == fixture['param_count'] == 120407316
    expected = {k: tuple(s) for k, s, _ in fixture['keys']
                if not k.startswith('head.')}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} \
        == expected
    state = {k: torch.empty(s, device='meta') for k, s in expected.items()}
    assert find_matching_arch(state) == XL


def test_xlarge_outputs_meta():
    model = _meta(XL).eval()
    with torch.device('meta'):
        (cls, ) = model(torch.empty(2, 3, 224, 224))
    assert tuple(cls.shape) == (2, 768)
    dense = _meta(XL, out_indices=(0, 1, 2, 3)).eval()
    with torch.device('meta'):
        outs = dense(torch.empty(1, 3, 224, 320))
    assert [tuple(o.shape) for o in outs] == [
        (1, 128, 56, 80), (1, 256, 28, 40), (1, 528, 14, 20),
        (1, 768, 7, 10)]
    assert dense.out_channels == [128, 256, 528, 768]
    assert dense.out_strides == [4, 8, 16, 32]
    with pytest.raises(ValueError, match='already at stride 32'):
        _meta(XL, out_indices=(0, 1, 2, 3), det_downsample=True)


def test_two_width_forward_is_the_composition_of_its_parts():
    """Blocks before ``first_block`` at the first width, the overlapping
    patch embedding of block ``first_block - 1``, the rest at the second
    width and stride 32, then class attention."""
    torch.manual_seed(0)
    model = FAN(TINY_TWO_WIDTH, out_type='cls_and_patch').eval()
    assert isinstance(model.blocks[1].downsample, OverlapPatchEmbed)
    assert model.blocks[0].downsample is None
    assert model.block_dims == [16, 16, 24, 24]
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        ((cls, patch), ) = model(x)
        t, hw, _ = model.patch_embed(x)
        t = t + model.pos_embed(*hw)
        t = model.blocks[1](model.blocks[0](t, *hw), *hw)
        t = t.transpose(1, 2).reshape(2, 16, *hw)
        t = model.blocks[1].downsample.proj(t)
        assert t.shape[-2:] == (2, 3)
        t = model.blocks[1].downsample.norm(t.flatten(2).transpose(1, 2))
        t = model.blocks[3](model.blocks[2](t, 2, 3), 2, 3)
        t = torch.cat([model.cls_token.expand(2, -1, -1), t], dim=1)
        for blk in model.cls_attn_blocks:
            t = blk(t)
        t = model.norm(t)
    torch.testing.assert_close(cls, t[:, 0])
    torch.testing.assert_close(patch, t[:, 1:])


def test_two_width_dense_and_bad_stage2():
    torch.manual_seed(0)
    model = FAN(TINY_TWO_WIDTH, out_indices=(0, 1, 2, 3),
                out_norms=True).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (1, 128, 16, 16), (1, 256, 8, 8), (1, 16, 4, 4), (1, 24, 2, 2)]
    with pytest.raises(ValueError, match='stage2'):
        FAN(dict(TINY_TWO_WIDTH, stage2=dict(first_block=9, embed_dims=24,
                                              num_heads=3)))


# ---------------------------------------------------------------------------
# fan_small_12_p16_224_se_attn
# ---------------------------------------------------------------------------
def _upstream_se_block_keys(i, C=384, h=8):
    """Key -> shape of upstream's FANBlock_SE (TokenMixing + SEMlp)."""
    p = f'blocks.{i}.'
    hidden, reduced = 4 * C, C // 4
    keys = {'gamma1': (C, ), 'gamma2': (C, ), 'norm1.weight': (C, ),
            'norm1.bias': (C, ), 'attn.q.weight': (C, C),
            'attn.q.bias': (C, ), 'attn.kv.weight': (2 * C, C),
            'attn.kv.bias': (2 * C, ), 'attn.proj.weight': (C, C),
            'attn.proj.bias': (C, ), 'norm2.weight': (C, ),
            'norm2.bias': (C, ), 'mlp.gamma': (hidden, ),
            'mlp.fc1.weight': (hidden, C), 'mlp.fc1.bias': (hidden, ),
            'mlp.fc2.weight': (C, hidden), 'mlp.fc2.bias': (C, ),
            'mlp.se.conv_reduce.weight': (reduced, C, 1, 1),
            'mlp.se.conv_reduce.bias': (reduced, ),
            'mlp.se.conv_expand.weight': (C, reduced, 1, 1),
            'mlp.se.conv_expand.bias': (C, )}
    for conv in ('conv1', 'conv2'):
        keys[f'mlp.dwconv.{conv}.weight'] = (hidden, 1, 3, 3)
        keys[f'mlp.dwconv.{conv}.bias'] = (hidden, )
    for name in ('weight', 'bias', 'running_mean', 'running_var'):
        keys[f'mlp.dwconv.bn.{name}'] = (hidden, )
    keys['mlp.dwconv.bn.num_batches_tracked'] = ()
    return {p + k: v for k, v in keys.items()}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
def test_se_attn_keys_and_param_count():
    """Everything outside the blocks equals FAN-S-ViT (the upstream file
    builds it with the same arguments and ``se_mlp=True``); the blocks have
    upstream's FANBlock_SE names."""
    small = _fixture('fan_small_12_p16_224')
    model = _meta(SE)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {k: tuple(s) for k, s, _ in small['keys']
                if not k.startswith(('head.', 'blocks.'))}
    for i in range(12):
        expected.update(_upstream_se_block_keys(i))
    assert got == expected
    C, h = 384, 8
    channel_attention = h + 2 * C + C * C + C  # temperature, norm_v, q
    se = C * 96 + 96 + 96 * C + C
    count = sum(p.numel() for p in model.parameters()) + C * 1000 + 1000
    assert count == small['param_count'] + 12 * (se - channel_attention)
    assert find_matching_arch(got) == SE


def test_se_gate_equals_pooled_conv_reference():
    torch.manual_seed(0)
    se = SqueezeExcite(16)
    x = torch.randn(2, 12, 16)  # a 3 x 4 grid
    fmap = x.transpose(1, 2).reshape(2, 16, 3, 4)
    gate = torch.sigmoid(se.conv_expand(F.relu(se.conv_reduce(
        F.adaptive_avg_pool2d(fmap, 1)))))
    ref = (fmap * gate).flatten(2).transpose(1, 2)
    torch.testing.assert_close(se(x), ref)


def test_se_block_runs_with_the_grid_and_trains():
    """Upstream's FANBlock_SE is called without the grid and crashes
    (NVlabs/FAN#13); here the backbone passes (H, W) and gradients reach
    every parameter."""
    torch.manual_seed(0)
    arch = dict(embed_dims=32, depth=2, num_heads=2, stem='conv', block='se')
    model = FAN(arch, drop_path_rate=0.1)
    assert all(isinstance(b.mlp, SEConvFFN) for b in model.blocks)
    (cls, ) = model(torch.randn(2, 3, 64, 48))
    assert cls.shape == (2, 32)
    cls.sum().backward()
    assert all(p.grad is not None for p in model.parameters()
               if p.requires_grad)
    with pytest.raises(ValueError, match="'fan' or 'se'"):
        FAN(dict(arch, block='mixer'))
