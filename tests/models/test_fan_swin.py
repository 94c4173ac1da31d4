"""FAN-Swin backbone: upstream key names/parameter counts, probe parity,
window masks and padding, dense outputs, training helpers.

Parity tests read ``../shared/fixtures/official`` and are skipped when it is
absent. The four upstream variants are built on the meta device; real
compute uses FAN-Swin-T (one 224 forward) or a tiny custom arch.
"""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from stl_mm.models.backbones import FANSwin
from stl_mm.models.backbones.fan_swin import (MASK_VALUE, SwinFANBlock,
                                              shifted_window_mask,
                                              window_partition)
from stl_mm.models.utils import upstream_to_classifier
from stl_mm.testing import torch_threads, FIXTURES, NO_FIXTURES, synth_state_dict

TOL = 1e-4
TINY = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
            window_size=4)
VARIANTS = sorted(FANSwin.arch_zoo)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _fixture(name):
    return json.loads((FIXTURES / f'{name}.json').read_text())


def _input(seed, shape):
    rng = np.random.default_rng(seed + 1000)
    return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))


def test_arch_zoo_names():
    assert VARIANTS == [f'fan_swin_{s}_patch4_window7_224'
                        for s in ('base', 'large', 'small', 'tiny')]


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
@pytest.mark.parametrize('arch', VARIANTS)
def test_param_count_and_keys(arch):
    fixture = _fixture(arch)
    with torch.device('meta'):
        model = FANSwin(arch)
    width = model.channels[-1]
    count = sum(p.numel() for p in model.parameters())
    assert count + width * 1000 + 1000 == fixture['param_count']
    # buffers included: relative_position_index and the shifted-window
    # masks of the 224 input (attn_mask)
    expected = {k: tuple(s) for k, s, _ in fixture['keys']
                if not k.startswith('head.')}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected
    params = {k for k, _ in model.named_parameters()}
    assert params == {k for k in expected
                      if not k.endswith(('relative_position_index',
                                         'attn_mask',
                                         'running_mean', 'running_var',
                                         'num_batches_tracked'))}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
@pytest.mark.parametrize('fused', [True, False], ids=['sdpa', 'explicit'])
def test_probe_parity_tiny(fused):
    variant = 'fan_swin_tiny_patch4_window7_224'
    fixture = _fixture(variant)
    (probe, ) = fixture['probes']
    upstream = synth_state_dict(fixture['keys'], probe['seed'])
    state = upstream_to_classifier(upstream)
    model = FANSwin(variant, fused_attn=fused).eval()
    backbone = {k[len('backbone.'):]: v for k, v in state.items()
                if k.startswith('backbone.')}
    # strict: every upstream key but the head; the stored masks are used at
    # 224 (the fixture's synthetic ones are random, as is then the output)
    model.load_state_dict(backbone, strict=True)
    ref = np.load(FIXTURES / probe['outputs'])['cls']
    with torch.no_grad():
        (feat, ) = model(_input(probe['seed'], probe['input_shape']))
        logits = F.linear(feat.mean((2, 3)), upstream['head.weight'].float(),
                          upstream['head.bias'].float())
    diff = np.abs(logits.numpy() - ref).max()
    print(f'{variant} fused={fused}: max abs diff {diff:.2e}')
    assert feat.shape == (1, 768, 7, 7)
    assert diff < TOL


# ---------------------------------------------------------------------------
# window masks, padding and the small-map rule
# ---------------------------------------------------------------------------
def _upstream_style_mask(H, W, ws, shift):
    """The 3x3-region mask as upstream Swin builds it (no padding)."""
    img = torch.zeros(1, H, W, 1)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    cnt = 0
    for h in cuts:
        for w in cuts:
            img[:, h, w, :] = cnt
            cnt += 1
    win = window_partition(img, ws)[0, ..., 0]
    m = win.unsqueeze(1) - win.unsqueeze(2)
    return m.masked_fill(m != 0, -100.).masked_fill(m == 0, 0.)


@pytest.mark.parametrize('hw', [(56, 56), (14, 14), (14, 28)])
def test_shift_mask_equals_upstream_rule(hw):
    ws, shift = 7, 3
    ours = shifted_window_mask(*hw, ws, shift)
    assert torch.equal(ours, _upstream_style_mask(*hw, ws, shift))
    assert shifted_window_mask(*hw, ws, 0) is None


def test_padded_tokens_are_masked():
    mask = shifted_window_mask(5, 9, 7, 0)  # padded to 7 x 14: 2 windows
    assert mask.shape == (2, 49, 49)
    real = torch.zeros(7, 14, dtype=torch.bool)
    real[:5, :9] = True
    real = window_partition(real.view(1, 7, 14, 1).float(), 7)[0, ..., 0]
    for w in range(2):
        both = real[w][:, None] * real[w][None, :]
        one = real[w][:, None] != real[w][None, :]
        assert (mask[w][both.bool()] == 0).all()
        assert (mask[w][one] == MASK_VALUE).all()


def test_small_map_is_one_window_without_shift():
    """A 5x5 map in a window-7 block: no shift, and attention over the 25
    tokens with the bias of their offsets, as an upstream model built for
    that map (window 5, same offsets) computes it."""
    torch.manual_seed(0)
    blk = SwinFANBlock(8, 2, window_size=7, shift_size=3,
                       mlp_type='mlp').eval()
    nn.init.normal_(blk.attn.relative_position_bias_table)
    assert blk.shift_for(5, 5) == 0 and blk.shift_for(8, 8) == 3
    x = torch.randn(2, 25, 8)
    with torch.no_grad():
        mask = shifted_window_mask(5, 5, 7, 0)
        out = blk(x, 5, 5, mask)
        # reference: plain attention over the 25 tokens
        att = blk.attn
        y = blk.norm1(x)
        q, k, v = att.qkv(y).reshape(2, 25, 3, 2, 4).permute(2, 0, 3, 1, 4)
        coords = torch.stack(torch.meshgrid(torch.arange(5), torch.arange(5),
                                            indexing='ij')).flatten(1)
        rel = coords[:, :, None] - coords[:, None, :] + 6
        bias = att.relative_position_bias_table[rel[0] * 13 + rel[1]]
        a = (q * att.scale) @ k.transpose(-2, -1) + bias.permute(2, 0, 1)
        y = (a.softmax(-1) @ v).transpose(1, 2).reshape(2, 25, 8)
        ref = x + att.proj(y)
        ref = ref + blk.mlp(blk.norm2(ref), 5, 5)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


def test_fused_equals_explicit_on_padded_sizes():
    torch.manual_seed(0)
    fused = FANSwin(TINY, out_indices=(0, 1, 2, 3)).eval()
    explicit = FANSwin(TINY, out_indices=(0, 1, 2, 3), fused_attn=False)
    explicit.load_state_dict(fused.state_dict())
    explicit.eval()
    x = torch.randn(1, 3, 90, 70)  # no side a multiple of 4 * window
    with torch.no_grad():
        a, b = fused(x), explicit(x)
    assert [tuple(o.shape) for o in a] == [
        (1, 16, 23, 18), (1, 32, 12, 9), (1, 64, 6, 5), (1, 128, 3, 3)]
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------
# dense outputs and training helpers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('arch,width', [
    ('fan_swin_tiny_patch4_window7_224', 96),
    ('fan_swin_large_patch4_window7_224', 192)])
def test_dense_shapes_meta(arch, width):
    with torch.device('meta'):
        model = FANSwin(arch, out_indices=(0, 1, 2, 3), out_norms=True)
        outs = model.eval()(torch.empty(2, 3, 128, 192))
    assert [tuple(o.shape) for o in outs] == [
        (2, width * 2 ** i, 32 // 2 ** i, 48 // 2 ** i) for i in range(4)]
    assert model.out_channels == [width * 2 ** i for i in range(4)]
    assert model.out_strides == [4, 8, 16, 32]
    assert set(model.out_norms) == {'0', '1', '2'}  # 3 uses ``norm``


def test_subset_of_outputs_stops_early_and_matches():
    torch.manual_seed(0)
    full = FANSwin(TINY, out_indices=(0, 1, 2, 3)).eval()
    part = FANSwin(TINY, out_indices=(1, )).eval()
    part.load_state_dict(full.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        outs, (out1, ) = full(x), part(x)
    assert torch.equal(outs[1], out1)
    with pytest.raises(ValueError, match='out_indices'):
        FANSwin(TINY, out_indices=(4, ))


def test_drop_path_rule_is_linear_over_all_blocks():
    model = FANSwin(TINY, drop_path_rate=0.35)
    rates = [getattr(b.drop_path, 'drop_prob', 0.)
             for stage in model.layers for b in stage.blocks]
    np.testing.assert_allclose(rates, np.linspace(0, 0.35, 8), atol=1e-7)


def test_frozen_stages_norm_eval_and_checkpointing():
    torch.manual_seed(0)
    model = FANSwin(TINY, frozen_stages=2, norm_eval=True, with_cp=True)
    model.train()
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.layers[1].parameters())
    assert all(p.requires_grad for p in model.layers[2].parameters())
    assert not model.layers[0].training
    bn = model.layers[2].blocks[0].mlp.mlp_v.dwconv.bn
    assert not bn.training
    plain = FANSwin(TINY, frozen_stages=2, norm_eval=True)
    plain.load_state_dict(model.state_dict())
    plain.train()
    x = torch.randn(2, 3, 64, 64)
    model(x)[0].sum().backward()
    plain(x)[0].sum().backward()
    for (n, p), q in zip(model.named_parameters(), plain.parameters()):
        if p.requires_grad:
            torch.testing.assert_close(p.grad, q.grad, msg=n)


def test_layer_depth_and_bad_arch():
    model = FANSwin(TINY)
    assert model.get_layer_depth('backbone.patch_embed.proj.weight',
                                 'backbone.') == (0, 10)
    assert model.get_layer_depth('backbone.layers.1.blocks.0.attn.qkv.weight',
                                 'backbone.') == (3, 10)
    assert model.get_layer_depth('backbone.layers.1.downsample.norm.weight',
                                 'backbone.') == (4, 10)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (9, 10)
    with pytest.raises(ValueError, match='Unknown FAN-Swin arch'):
        FANSwin('fan_swin_huge')
    with pytest.raises(ValueError, match='unknown'):
        FANSwin(dict(TINY, depth=3))


def test_dense_backbone_from_an_upstream_classification_file(tmp_path):
    """``init_cfg=Pretrained`` on a timm-style FAN-Swin file (head
    included): every backbone tensor arrives, the new output norms keep
    their initialisation."""
    import argparse
    torch.manual_seed(0)
    source = FANSwin(TINY)
    state = {k: v + 0.01 if v.is_floating_point() else v
             for k, v in source.state_dict().items()}
    upstream = dict(state)
    upstream['head.weight'] = torch.zeros(10, 128)
    upstream['head.bias'] = torch.zeros(10)
    path = tmp_path / 'fan_swin_custom.pth.tar'
    torch.save({'state_dict_ema': {'module.' + k: v
                                   for k, v in upstream.items()},
                'state_dict': {}, 'epoch': 1,
                'args': argparse.Namespace(model='custom')}, path)
    dense = FANSwin(TINY, out_indices=(0, 1, 2, 3), out_norms=True,
                    init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    norms = {k: v.clone() for k, v in dense.out_norms.state_dict().items()}
    dense.init_weights()
    got = dense.state_dict()
    for k, v in state.items():
        assert torch.equal(got[k], v), k
    for k, v in dense.out_norms.state_dict().items():
        assert torch.equal(v, norms[k])


def test_stored_masks_are_used_at_the_nominal_size_only():
    """At the nominal size a block uses its ``attn_mask`` buffer (what
    upstream does, and what a checkpoint holds); at other sizes the mask of
    that map. The default buffers are exactly the computed masks."""
    torch.manual_seed(0)
    model = FANSwin(TINY, img_size=64).eval()
    blk = model.layers[0].blocks[1]
    assert blk.input_resolution == (16, 16)
    assert torch.equal(blk.attn_mask, shifted_window_mask(16, 16, 4, 2))
    assert model.layers[3].blocks[1].attn_mask is None  # 2x2: one window
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)[0]
        for stage in model.layers:
            for b in stage.blocks:
                if b.attn_mask is not None:
                    b.attn_mask.fill_(0.)  # as if a checkpoint said so
        changed = model(x)[0]
        other = model(torch.randn(1, 3, 96, 64))[0]
    assert not torch.allclose(ref, changed)
    assert other.shape == (1, 128, 3, 2)


def test_checkpoint_of_another_input_size_brings_its_masks():
    """Upstream builds its masks for ``img_size``: a file of a 512 model
    (other mask shapes, a mask in the last stage too) loads strictly into
    a model built for 112 (whose last stage fits in one window, no mask),
    whose blocks then use those masks at 512 and compute the masks of other
    sizes as before."""
    torch.manual_seed(0)
    big = FANSwin(TINY, img_size=512).eval()  # maps 128, 64, 32, 16
    state = {k: (torch.randn_like(v) if k.endswith('attn_mask') else v)
             for k, v in big.state_dict().items()}
    big.load_state_dict(state)
    model = FANSwin(TINY, img_size=112).eval()
    assert 'layers.3.blocks.1.attn_mask' not in model.state_dict()
    model.load_state_dict(state, strict=True)
    assert model.layers[3].blocks[1].input_resolution == (16, 16)
    assert model.layers[0].blocks[1].input_resolution == (128, 128)
    x = torch.randn(1, 3, 512, 512)
    y = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], big(x)[0], rtol=0, atol=0)
        torch.testing.assert_close(model(y)[0], big(y)[0], rtol=0, atol=0)


def test_torch_compile_fullgraph():
    """One graph, no breaks: the masks of a padded map are built from
    Python ints inside the graph."""
    torch.manual_seed(0)
    model = FANSwin(TINY, out_indices=(0, 3), img_size=64).eval()
    x = torch.randn(1, 3, 72, 52)  # not the nominal size: masks computed
    compiled = torch.compile(model, backend='eager', fullgraph=True,
                             dynamic=False)
    with torch.no_grad():
        for a, b in zip(model(x), compiled(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
