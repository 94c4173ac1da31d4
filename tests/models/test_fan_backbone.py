"""FAN backbone: upstream parity, structure, dense outputs, training hooks.

Parity tests read the upstream fixtures from ``../shared/fixtures/official``
(next to the repository) and are skipped when that folder is absent. Large
variants are only built on the meta device; real compute uses the tiny
upstream variants or tiny custom architectures.
"""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from stl_mm.models.backbones import FAN
from stl_mm.models.utils import upstream_to_classifier
from stl_mm.testing import FIXTURES, NO_FIXTURES, synth_state_dict

TOL = 1e-4

TINY_HYBRID = dict(embed_dims=32, depth=3, num_heads=2, stem='hybrid',
                   hybrid_depths=[1, 1], dense_index=1)
TINY_CONV = dict(embed_dims=32, depth=3, num_heads=2, stem='conv')


pytestmark = pytest.mark.usefixtures('one_thread')


def _fixture_json(name):
    return json.loads((FIXTURES / f'{name}.json').read_text())


def _synth(keys, seed):
    return synth_state_dict(keys, seed)


def _probes():
    if not FIXTURES.is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(NO_FIXTURES))]
    params = []
    for path in sorted(FIXTURES.glob('fan_*.json')):
        fixture = json.loads(path.read_text())
        if fixture['variant'] not in FAN.arch_zoo:
            continue  # FAN-Swin: tests/models/test_fan_swin.py
        for probe in fixture.get('probes', []):
            shape = 'x'.join(map(str, probe['input_shape']))
            params.append(pytest.param(fixture['variant'], probe,
                                       id=f"{fixture['variant']}-{shape}"))
    return params


def _input(seed, shape):
    rng = np.random.default_rng(seed + 1000)
    return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))


def _load_backbone(model, classifier_state):
    backbone = {k[len('backbone.'):]: v for k, v in classifier_state.items()
                if k.startswith('backbone.')}
    model.load_state_dict(backbone, strict=True)
    return model


def _linear(state, prefix):
    weight = state[prefix + 'weight'].float()
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight.data.copy_(weight)
    layer.bias.data.copy_(state[prefix + 'bias'].float())
    return layer


# ---------------------------------------------------------------------------
# numerical parity with the upstream model definitions
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('variant,probe', _probes())
def test_probe_parity(variant, probe, parity_device):
    fixture = _fixture_json(variant)
    state = upstream_to_classifier(_synth(fixture['keys'], probe['seed']))
    model = _load_backbone(FAN(variant, out_type='cls_and_patch'), state)
    model.eval().to(parity_device)
    ref = np.load(FIXTURES / probe['outputs'])
    with torch.no_grad():
        ((cls, patch), ) = model(_input(probe['seed'], probe['input_shape'])
                                 .to(parity_device))
        logits = _linear(state, 'head.fc.').to(parity_device)(cls)
        diffs = {'cls': np.abs(logits.cpu().numpy() - ref['cls']).max()}
        if 'aux' in ref:
            aux = _linear(state, 'head.aux_fc.').to(parity_device)(patch)
            diffs['aux'] = np.abs(aux.cpu().numpy() - ref['aux']).max()
    print(f'{variant} {probe["input_shape"]} on {parity_device}: max abs '
          f'diff {diffs}')
    assert set(diffs) == set(ref.files)
    for name, diff in diffs.items():
        assert diff < TOL, f'{name} differs by {diff}'


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
def test_segmentation_fixture_parity(parity_device):
    seg = json.loads(
        (FIXTURES / 'seg_fan_tiny_8_p4_hybrid_seed3.json').read_text())
    keys = json.loads((FIXTURES / seg['classification_keys']).read_text())
    state = upstream_to_classifier(_synth(keys['keys'], seg['seed']))
    model = _load_backbone(
        FAN(seg['variant'], out_indices=(0, 1, 2, 3)), state).eval()
    model.to(parity_device)
    ref = np.load(FIXTURES / seg['outputs'])
    with torch.no_grad():
        outs = model(_input(seg['seed'], seg['input_shape'])
                     .to(parity_device))
    assert [list(o.shape) for o in outs] == seg['shapes']
    for i, out in enumerate(outs):
        diff = np.abs(out.cpu().numpy() - ref[f'out{i}']).max()
        print(f'seg out{i}: max abs diff {diff}')
        assert diff < TOL, f'out{i} differs by {diff}'


# ---------------------------------------------------------------------------
# structure of all 12 variants (meta device)
# ---------------------------------------------------------------------------
def _meta(arch, **kwargs):
    with torch.device('meta'):
        return FAN(arch, **kwargs)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
@pytest.mark.parametrize('arch', sorted(
    a for a in FAN.arch_zoo if not a.endswith('_se_attn')))
def test_param_count_and_keys(arch):
    fixture = _fixture_json(arch)
    model = _meta(arch)
    dims = model.embed_dims
    heads = 1 + arch.endswith('_token')
    count = sum(p.numel() for p in model.parameters())
    assert count + heads * (dims * 1000 + 1000) == fixture['param_count']
    expected = {k: tuple(s) for k, s, _ in fixture['keys']
                if not k.startswith(('head.', 'aux_head.'))}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected


def test_arch_zoo_has_the_upstream_variants():
    # the 12 of the FAN/STL model zoo, the two-width Xlarge, the SE variant
    assert len(FAN.arch_zoo) == 14
    assert {'fan_Xlarge_16_p4_hybrid',
            'fan_small_12_p16_224_se_attn'} < set(FAN.arch_zoo)
    for name in [n for n in FAN.arch_zoo if n.endswith('_token')]:
        assert FAN.arch_zoo[name] == FAN.arch_zoo[name[:-len('_token')]]


# ---------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('arch,dims,dense', [
    ('fan_tiny_8_p4_hybrid', 192, 7), ('fan_small_12_p4_hybrid', 384, 9),
    ('fan_base_16_p4_hybrid', 448, 15), ('fan_large_16_p4_hybrid', 480, 18),
    ('fan_large_16_p4_hybrid_token', 480, 18)
])
def test_dense_shapes_hybrid_variants(arch, dims, dense):
    model = _meta(arch, out_indices=(0, 1, 2, 3)).eval()
    assert model.dense_blocks == {dense: [2]}
    with torch.device('meta'):
        outs = model(torch.empty(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (2, 128, 16, 24), (2, 256, 8, 12), (2, dims, 4, 6), (2, dims, 4, 6)]
    assert model.out_channels == [128, 256, dims, dims]
    assert model.out_strides == [4, 8, 16, 16]

    det = _meta(arch, out_indices=(0, 1, 2, 3), det_downsample=True,
                out_norms=True).eval()
    with torch.device('meta'):
        outs = det(torch.empty(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (1, 128, 16, 24), (1, 256, 8, 12), (1, dims, 4, 6), (1, 768, 2, 3)]
    assert det.out_channels == [128, 256, dims, 768]
    assert det.out_strides == [4, 8, 16, 32]
    assert {k.split('.')[0] for k in det.state_dict()} >= {
        'learnable_downsample', 'out_norms'}
    assert 'out_norms.3.weight' in det.state_dict()


def test_dense_conv_stem_blocks():
    model = _meta('fan_tiny_12_p16_224', out_indices=(0, 1, 2, 3))
    assert model.dense_blocks == {4: [0], 7: [1], 11: [2]}
    with torch.device('meta'):
        outs = model(torch.empty(1, 3, 64, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 192, 4, 2)] * 4


def test_dense_tiny_compute_and_detection_form():
    torch.manual_seed(0)
    model = FAN(TINY_HYBRID, out_indices=(0, 1, 2, 3), det_downsample=True,
                out_norms=True).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        outs = model(x)
        subset = FAN(TINY_HYBRID, out_indices=(1, 2)).eval()
        subset.load_state_dict(model.state_dict(), strict=False)
        s_outs = subset(x)
    assert [tuple(o.shape) for o in outs] == [
        (2, 128, 16, 24), (2, 256, 8, 12), (2, 32, 4, 6), (2, 768, 2, 3)]
    # out_norms normalise every output over channels
    assert torch.allclose(outs[3].mean(1), torch.zeros(2, 2, 3), atol=1e-4)
    assert [tuple(o.shape) for o in s_outs] == [(2, 256, 8, 12),
                                                (2, 32, 4, 6)]


def test_classification_outputs():
    model = FAN(TINY_HYBRID).eval()
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        (cls, ) = model(x)
        model.out_type = 'cls_and_patch'
        ((cls2, patch), ) = model(x)
    assert cls.shape == (2, 32) and patch.shape == (2, 6, 32)
    assert torch.equal(cls, cls2)


def test_bad_input_size_raises():
    model = FAN(TINY_CONV).eval()
    with pytest.raises(ValueError, match=r'40x48.*multiple of 16'):
        model(torch.randn(1, 3, 40, 48))


def test_bad_arguments():
    with pytest.raises(ValueError, match='Unknown FAN arch'):
        FAN('fan_huge')
    with pytest.raises(ValueError, match='unknown'):
        FAN(dict(TINY_CONV, mlp=3))
    with pytest.raises(ValueError, match='out_indices'):
        FAN(TINY_CONV, out_indices=(4, ))
    with pytest.raises(ValueError, match='dense outputs'):
        FAN(TINY_CONV, det_downsample=True)
    with pytest.raises(ValueError, match='out_type'):
        FAN(TINY_CONV, out_type='avg')


# ---------------------------------------------------------------------------
# implementation options
# ---------------------------------------------------------------------------
def test_fused_and_explicit_attention_agree():
    torch.manual_seed(0)
    fused = FAN(TINY_HYBRID, out_type='cls_and_patch').eval()
    explicit = FAN(TINY_HYBRID, out_type='cls_and_patch',
                   fused_attn=False).eval()
    explicit.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        ((c1, p1), ), ((c2, p2), ) = fused(x), explicit(x)
    assert torch.allclose(c1, c2, atol=1e-5)
    assert torch.allclose(p1, p2, atol=1e-5)


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = FAN(TINY_HYBRID).train()
    ckpt = FAN(TINY_HYBRID, with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for model in (plain, ckpt):
        model(x)[0].pow(2).sum().backward()
    for (name, p1), (_, p2) in zip(plain.named_parameters(),
                                   ckpt.named_parameters()):
        assert p1.grad is not None, name
        assert torch.allclose(p1.grad, p2.grad, atol=1e-5), name


def _block_rates(model):
    return [getattr(b.drop_path, 'drop_prob', 0.) for b in model.blocks]


def test_drop_path_is_uniform_as_upstream():
    """Upstream (NVlabs/STL models/fan.py) builds every FAN block with
    ``drop_path=drop_path_rate``; the class-attention blocks get none."""
    model = FAN(dict(TINY_CONV, depth=5), drop_path_rate=0.4)
    assert _block_rates(model) == pytest.approx([.4] * 5)
    for block in model.cls_attn_blocks:
        assert not any(m.__class__.__name__ == 'DropPath'
                       for m in block.modules())
    model.train()
    model(torch.randn(2, 3, 32, 32))[0].sum().backward()


def test_drop_path_linear_schedule_option():
    model = FAN(dict(TINY_CONV, depth=5), drop_path_rate=0.4,
                drop_path_schedule='linear')
    assert _block_rates(model) == pytest.approx([0., .1, .2, .3, .4])
    with pytest.raises(ValueError, match='drop_path_schedule'):
        FAN(TINY_CONV, drop_path_schedule='cosine')
    model.train()
    model(torch.randn(2, 3, 32, 32))[0].sum().backward()


def test_frozen_stages_and_norm_eval():
    model = FAN(TINY_HYBRID, frozen_stages=2, norm_eval=True)
    model.train()
    frozen = ('patch_embed.', 'pos_embed.', 'blocks.0.', 'blocks.1.')
    for name, p in model.named_parameters():
        assert p.requires_grad != name.startswith(frozen), name
    assert not model.patch_embed.training and not model.blocks[1].training
    assert model.blocks[2].training
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)

    whole = FAN(TINY_CONV, frozen_stages=TINY_CONV['depth'] + 1)
    assert not any(p.requires_grad for p in whole.parameters())
    head_only = FAN(TINY_CONV, frozen_stages=0)
    assert not any(p.requires_grad
                   for p in head_only.patch_embed.parameters())
    assert all(p.requires_grad for p in head_only.blocks.parameters())


def test_get_layer_depth():
    model = FAN(TINY_CONV)  # depth 3 -> 5 layers
    assert model.get_layer_depth('backbone.cls_token', 'backbone.') == (0, 5)
    assert model.get_layer_depth('backbone.pos_embed.token_projection.weight',
                                 'backbone.') == (0, 5)
    assert model.get_layer_depth('backbone.patch_embed.proj.0.0.weight',
                                 'backbone.') == (0, 5)
    assert model.get_layer_depth('backbone.blocks.0.gamma1',
                                 'backbone.') == (1, 5)
    assert model.get_layer_depth('backbone.blocks.2.mlp.q.weight',
                                 'backbone.') == (3, 5)
    assert model.get_layer_depth('backbone.cls_attn_blocks.0.gamma1',
                                 'backbone.') == (4, 5)
    assert model.get_layer_depth('backbone.norm.weight', 'backbone.') == (4,
                                                                          5)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (4, 5)
    assert model.get_layer_depth('blocks.1.norm1.weight') == (2, 5)


def test_torch_compile_fullgraph():
    torch.manual_seed(0)
    model = FAN(TINY_HYBRID, out_type='cls_and_patch').eval()
    x = torch.randn(1, 3, 32, 48)
    compiled = torch.compile(model, backend='eager', fullgraph=True)
    with torch.no_grad():
        ((c1, p1), ) = model(x)
        ((c2, p2), ) = compiled(x)
    assert torch.allclose(c1, c2, atol=1e-6)
    assert torch.allclose(p1, p2, atol=1e-6)


def test_cpu_bf16_autocast_paths_follow_float32():
    """Under CPU autocast the stem's pointwise MLPs run as matmuls of the
    NHWC rows (and, without native bf16, depthwise convolutions in
    float32): the bf16 outputs and gradients stay close to float32 ones,
    and the backbone still compiles in one graph."""
    torch.manual_seed(0)
    model = FAN(TINY_HYBRID, out_type='cls_and_patch').train()
    x = torch.randn(2, 3, 32, 32)
    r_cls, r_patch = torch.randn(2, 32), torch.randn(2, 4, 32)

    def run(amp):
        model.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            ((cls, patch), ) = model(x)
        ((cls.float() * r_cls).sum()
         + (patch.float() * r_patch).sum()).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        return cls.float(), grads

    (cls, grads), (cls16, grads16) = run(False), run(True)
    assert (cls16 - cls).abs().max() < 0.05 * cls.abs().max()
    # all gradients together (single ones of near-zero true gradient are
    # dominated by bf16 rounding): 1.4 % apart, 1.9 % before the change
    assert (grads16 - grads).norm() < 0.05 * grads.norm()
    compiled = torch.compile(model.eval(), backend='eager', fullgraph=True)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        ((c1, _), ) = model(x)
        ((c2, _), ) = compiled(x)
    assert torch.allclose(c1.float(), c2.float(), atol=1e-2)


def test_registered_in_stl_mm_scope():
    from stl_mm.registry import MODELS
    model = MODELS.build(dict(type='FAN', arch=TINY_CONV))
    assert isinstance(model, FAN)


def test_layer_decay_constructor_of_mmpretrain():
    optimizers = pytest.importorskip('mmpretrain.engine.optimizers')
    constructor = optimizers.LearningRateDecayOptimWrapperConstructor
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    model = MMPRETRAIN_MODELS.build(dict(
        type='ImageClassifier', backbone=dict(type='stl_mm.FAN',
                                              arch=TINY_CONV),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=32)))
    wrapper = constructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=1., weight_decay=0.05)),
        dict(layer_decay_rate=0.5))(model)
    lrs = {g['param_name']: g['lr'] for g in wrapper.optimizer.param_groups}
    assert lrs['backbone.cls_token'] == 0.5**4
    assert lrs['backbone.blocks.0.gamma1'] == 0.5**3
    assert lrs['backbone.blocks.2.gamma1'] == 0.5
    assert lrs['backbone.norm.weight'] == lrs['head.fc.weight'] == 1.
