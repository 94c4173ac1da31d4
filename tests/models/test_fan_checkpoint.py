"""FAN checkpoint conversion: upstream files, legacy spellings, EMA choice,
variant detection, Pretrained init and tools/convert_official_checkpoint.py.
"""
import argparse
import json

import numpy as np
import pytest
import torch

from stl_mm.apis.convert import convert_fan_checkpoint
from stl_mm.models.backbones import FAN
from stl_mm.models.utils import (check_state_matches, classifier_to_upstream,
                                 find_matching_arch, load_fan_checkpoint,
                                 upstream_to_classifier)
from stl_mm.testing import FIXTURES, NO_FIXTURES, run_tool, synth_state_dict


TINY = dict(embed_dims=32, depth=2, num_heads=2, stem='hybrid',
            hybrid_depths=[1, 1], dense_index=1)


pytestmark = pytest.mark.usefixtures('one_thread')


def _upstream_state(arch=TINY, seed=0, aux=True, num_classes=5):
    """Real tensors in the upstream layout for a (tiny) FAN."""
    torch.manual_seed(seed)
    model = FAN(arch)
    state = dict(model.state_dict())
    dims = model.embed_dims
    state['head.weight'] = torch.randn(num_classes, dims)
    state['head.bias'] = torch.randn(num_classes)
    if aux:
        state['aux_head.weight'] = torch.randn(num_classes, dims)
        state['aux_head.bias'] = torch.randn(num_classes)
    return state


def _meta_upstream_state(arch):
    with torch.device('meta'):
        model = FAN(arch)
        state = dict(model.state_dict())
        dims = model.embed_dims  # the head's input width
        heads = ['head'] + (['aux_head'] if arch.endswith('_token') else [])
        for head in heads:
            state[f'{head}.weight'] = torch.empty(1000, dims)
            state[f'{head}.bias'] = torch.empty(1000)
    return state


def _timm_file(path, ema_state, raw_state, arch='fan_tiny_8_p4_hybrid_token'):
    """Save the way timm's training script does (DDP ``module.`` keys)."""
    prefixed = lambda s: {'module.' + k: v for k, v in s.items()}  # noqa
    torch.save({
        'epoch': 299, 'arch': arch, 'version': 2, 'metric': 80.1,
        'state_dict': prefixed(raw_state),
        'state_dict_ema': prefixed(ema_state),
        'optimizer': {'state': {}, 'param_groups': [{'lr': 1e-3}]},
        'args': argparse.Namespace(model=arch, lr=1e-3, epochs=300),
    }, path)


def _assert_same(converted, upstream):
    expected = upstream_to_classifier(upstream)
    assert set(converted) == set(expected)
    for k, v in expected.items():
        assert torch.equal(converted[k], v), k


# ---------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------
def test_upstream_to_classifier_layout():
    state = _upstream_state()
    converted = upstream_to_classifier(state)
    assert converted['head.fc.weight'] is state['head.weight']
    assert converted['head.aux_fc.bias'] is state['aux_head.bias']
    assert 'backbone.cls_token' in converted
    assert all(k.startswith(('backbone.', 'head.fc.', 'head.aux_fc.'))
               for k in converted)
    assert classifier_to_upstream(converted).keys() == state.keys()


def test_timm_training_file_prefers_ema(tmp_path):
    ema = _upstream_state(seed=0)
    raw = {k: v + 1 if v.is_floating_point() else v for k, v in ema.items()}
    path = tmp_path / 'model_best.pth.tar'
    _timm_file(path, ema, raw)
    _assert_same(load_fan_checkpoint(str(path)), ema)
    _assert_same(load_fan_checkpoint(str(path), prefer_ema=False), raw)


def test_legacy_fused_qkv_and_pos_embeder():
    state = _upstream_state()
    legacy = {}
    for k, v in state.items():
        if k.startswith('pos_embed.'):
            k = 'pos_embeder.' + k[len('pos_embed.'):]
        legacy['module.' + k] = v
    for i in range(2):
        for kind in ('weight', 'bias'):
            parts = [legacy.pop(f'module.cls_attn_blocks.{i}.attn.{n}.{kind}')
                     for n in 'qkv']
            legacy[f'module.cls_attn_blocks.{i}.attn.qkv.{kind}'] = torch.cat(
                parts)
    _assert_same(upstream_to_classifier(legacy), state)


def test_legacy_keys_load_through_the_pre_hook():
    """Old spellings load straight into the model (load_state_dict pre-hook
    next to FAN), also nested in a classifier under ``backbone.``."""
    torch.manual_seed(0)
    model = FAN(TINY)
    state = {k: v + 1 for k, v in model.state_dict().items()}
    legacy = {}
    for k, v in state.items():
        if k.startswith('pos_embed.'):
            k = 'pos_embeder.' + k[len('pos_embed.'):]
        legacy[k] = v
    for i in range(2):
        for kind in ('weight', 'bias'):
            parts = [legacy.pop(f'cls_attn_blocks.{i}.attn.{n}.{kind}')
                     for n in 'qkv']
            legacy[f'cls_attn_blocks.{i}.attn.qkv.{kind}'] = torch.cat(parts)
    model.load_state_dict(legacy, strict=True)
    assert all(torch.equal(model.state_dict()[k], v)
               for k, v in state.items())

    wrapper = torch.nn.Module()
    wrapper.backbone = FAN(TINY)
    wrapper.load_state_dict({'backbone.' + k: v for k, v in legacy.items()},
                            strict=True)
    assert all(torch.equal(wrapper.backbone.state_dict()[k], v)
               for k, v in state.items())


def test_read_checkpoint_reports_entry_meta_and_ema(tmp_path):
    from stl_mm.utils.checkpoint_reader import read_checkpoint
    ema = _upstream_state(seed=0)
    raw = {k: v * 0 for k, v in ema.items()}
    path = tmp_path / 'timm.pth.tar'
    _timm_file(path, ema, raw)
    got = read_checkpoint(str(path))
    assert got.which == 'state_dict_ema' and got.used_ema
    assert got.meta is None
    assert all(k.startswith('module.') for k in got.state_dict)
    got = read_checkpoint(str(path), prefer_ema=False)
    assert got.which == 'state_dict' and not got.used_ema
    ours = tmp_path / 'ours.pth'
    torch.save({'meta': {'epoch': 1}, 'state_dict': ema}, ours)
    got = read_checkpoint(str(ours))
    assert got.meta == {'epoch': 1} and got.which == 'state_dict'
    torch.save([1, 2], tmp_path / 'list.pth')
    with pytest.raises(TypeError, match='not a dict of weights'):
        read_checkpoint(str(tmp_path / 'list.pth'))


def test_mmengine_ema_hook_checkpoint(tmp_path):
    ema = upstream_to_classifier(_upstream_state(seed=0))
    raw = {k: v + 1 for k, v in ema.items()}
    # EMAHook swaps: 'state_dict' holds the averaged weights, the raw ones
    # stay ('module.'-prefixed) in 'ema_state_dict'
    ema_entry = {'module.' + k: v for k, v in raw.items()}
    ema_entry['steps'] = torch.tensor(10)
    path = tmp_path / 'epoch_3.pth'
    torch.save({'meta': {'epoch': 3}, 'state_dict': ema,
                'ema_state_dict': ema_entry}, path)
    got = load_fan_checkpoint(str(path))
    assert all(torch.equal(got[k], v) for k, v in ema.items())
    got = load_fan_checkpoint(str(path), prefer_ema=False)
    assert set(got) == set(raw)
    assert all(torch.equal(got[k], v) for k, v in raw.items())


def test_raw_state_dicts(tmp_path):
    state = _upstream_state(aux=False)
    torch.save(state, tmp_path / 'raw.pth')
    _assert_same(load_fan_checkpoint(str(tmp_path / 'raw.pth')), state)
    converted = upstream_to_classifier(state)
    converted['decode_head.conv_seg.weight'] = torch.ones(1)
    torch.save({'state_dict': converted}, tmp_path / 'ours.pth')
    again = load_fan_checkpoint(str(tmp_path / 'ours.pth'))
    assert set(again) == set(converted)


# ---------------------------------------------------------------------------
# variant detection and the wrong-variant error
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('arch', sorted(FAN.arch_zoo))
def test_find_matching_arch(arch):
    state = _meta_upstream_state(arch)
    assert find_matching_arch(state) == arch
    assert find_matching_arch(upstream_to_classifier(state)) == arch


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
def test_find_matching_arch_on_fixture_key_lists():
    for path in sorted(FIXTURES.glob('fan_*.json')):
        fixture = json.loads(path.read_text())
        state = {k: torch.empty(s, device='meta')
                 for k, s, _ in fixture['keys']}
        assert find_matching_arch(state) == fixture['variant']


def test_wrong_variant_error_names_the_fitting_variant():
    with torch.device('meta'):
        model_state = FAN('fan_tiny_8_p4_hybrid').state_dict()
    ckpt = _meta_upstream_state('fan_small_12_p4_hybrid_token')
    with pytest.raises(ValueError) as info:
        check_state_matches(model_state, ckpt, 'fan_tiny_8_p4_hybrid')
    message = str(info.value)
    assert "FAN arch 'fan_tiny_8_p4_hybrid'" in message
    # the file has the aux head: the token variant is the one to build
    assert "arch='fan_small_12_p4_hybrid_token'" in message
    assert 'cls_token: checkpoint shape [1, 1, 384] != model shape ' \
        '[1, 1, 192]' in message
    assert message.count(' != model shape') + message.count(
        'missing in the checkpoint') + message.count('not in the model') == 5
    assert '... and ' in message

    # deeper checkpoint with the same width: extra blocks are reported
    with torch.device('meta'):
        small_vit = FAN('fan_small_12_p16_224').state_dict()
    partial = {k: v for k, v in small_vit.items()
               if not k.startswith('blocks.11.')}
    with pytest.raises(ValueError, match='blocks.11.*missing') as info:
        check_state_matches(small_vit, partial, 'fan_small_12_p16_224')
    assert 'No upstream FAN variant fits' in str(info.value)


# ---------------------------------------------------------------------------
# init_cfg=Pretrained
# ---------------------------------------------------------------------------
def test_pretrained_init_loads_and_logs(tmp_path, monkeypatch):
    import stl_mm.models.backbones.fan as fan_module
    logs = []
    monkeypatch.setattr(fan_module, 'print_log',
                        lambda msg, **kw: logs.append(msg))
    upstream = _upstream_state(seed=1)
    path = tmp_path / 'up.pth.tar'
    _timm_file(path, upstream, upstream)

    model = FAN(TINY, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, upstream[k]), k
    assert any('head.fc' in m and 'head.aux_fc' in m for m in logs)

    logs.clear()
    dense = FAN(TINY, out_indices=(0, 1, 2, 3), det_downsample=True,
                out_norms=True,
                init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    dense.init_weights()
    assert torch.equal(dense.blocks[1].gamma1, upstream['blocks.1.gamma1'])
    text = '\n'.join(logs)
    assert 'backbone.norm' in text  # unused in dense mode
    assert 'learnable_downsample' in text and 'out_norms' in text


def test_pretrained_init_wrong_variant_fails(tmp_path):
    path = tmp_path / 'up.pth'
    torch.save(_upstream_state(), path)
    deeper = FAN(dict(TINY, depth=3),
                 init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=r"arch 'custom'.*\n.*blocks\.2\."):
        deeper.init_weights()
    wider = FAN(dict(TINY, embed_dims=64),
                init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=r'\[1, 1, 32\] != model shape'):
        wider.init_weights()


# ---------------------------------------------------------------------------
# tools/convert_official_checkpoint.py end to end
# ---------------------------------------------------------------------------
@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
def test_convert_tool_end_to_end(tmp_path, capsys):
    fixture = json.loads((FIXTURES / 'fan_tiny_12_p16_224.json').read_text())
    probe = fixture['probes'][0]
    ema = {k: v.float() if v.is_floating_point() else v
           for k, v in synth_state_dict(fixture['keys'],
                                        probe['seed']).items()}
    raw = {k: v * 0.5 if v.is_floating_point() else v
           for k, v in ema.items()}
    src, dst = tmp_path / 'fan_tiny.pth.tar', tmp_path / 'fan_tiny_mm.pth'
    _timm_file(src, ema, raw, arch=fixture['variant'])

    convert_fan_checkpoint(str(src), str(dst))
    out = torch.load(dst, weights_only=True)
    assert out['meta']['arch'] == 'fan_tiny_12_p16_224'
    assert out['meta']['ema'] is True
    assert out['meta']['source'] == str(src.resolve())

    model = FAN('fan_tiny_12_p16_224',
                init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    model.eval()
    x = np.random.default_rng(probe['seed'] + 1000).standard_normal(
        probe['input_shape']).astype(np.float32)
    with torch.no_grad():
        (cls, ) = model(torch.from_numpy(x))
        logits = cls @ out['state_dict']['head.fc.weight'].T + \
            out['state_dict']['head.fc.bias']
    ref = np.load(FIXTURES / probe['outputs'])['cls']
    assert np.abs(logits.numpy() - ref).max() < 1e-4

    # raw weights on request
    convert_fan_checkpoint(str(src), str(dst), ema=False)
    out = torch.load(dst, weights_only=True)
    assert out['meta']['ema'] is False
    assert torch.equal(out['state_dict']['backbone.cls_token'],
                       raw['cls_token'])

    # an explicit, wrong --arch is refused naming the right one (the tool:
    # the message and exit status 2)
    with pytest.raises(ValueError, match="arch='fan_tiny_12_p16_224'"):
        convert_fan_checkpoint(str(src), str(tmp_path / 'x.pth'),
                               arch='fan_small_12_p16_224')
    assert not (tmp_path / 'x.pth').exists()
    out = run_tool(['tools/convert_official_checkpoint.py', str(src),
                    str(tmp_path / 'x.pth'), '--arch',
                    'fan_small_12_p16_224'], check=False)
    assert out.returncode == 2
    assert "arch='fan_tiny_12_p16_224'" in out.stderr
    assert not (tmp_path / 'x.pth').exists()


def test_convert_tool_rejects_non_fan(tmp_path, capsys):
    src = tmp_path / 'other.pth'
    torch.save({'state_dict': _upstream_state()}, src)  # custom size
    with pytest.raises(ValueError) as error:
        convert_fan_checkpoint(str(src), str(tmp_path / 'o.pth'))
    err = str(error.value)
    assert 'No upstream FAN variant fits' in err
    assert 'closest variant' in err
