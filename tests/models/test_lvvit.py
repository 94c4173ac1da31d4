"""LV-ViT: upstream keys/counts of every variant (meta device), probe parity
through init_model (timm-style file), resolution handling of checkpoints,
MixToken against an upstream-style reference, dense outputs, errors."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from stl_mm.apis import init_model
from stl_mm.models.backbones import LVViT
from stl_mm.models.utils import classifier_to_upstream
from stl_mm.registry import MODELS

from stl_mm.testing import torch_threads, FIXTURES, NO_FIXTURES, synth_state_dict

REPO = Path(__file__).resolve().parents[2]
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(),
                                    reason=NO_FIXTURES)
VARIANTS = {'lvvit_t': ('lvvit_t', 224), 'lvvit_s': ('lvvit_s', 224),
            'lvvit_m': ('lvvit_m', 224), 'lvvit_l_448': ('lvvit_l', 448)}
TINY = dict(embed_dims=32, depth=2, num_heads=2, stem_channels=8,
            skip_lam=2.0)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _fixture(name):
    return json.loads((FIXTURES / f'{name}.json').read_text())


def _classifier(arch, img_size=224, num_classes=1000, **backbone):
    D = LVViT.arch_zoo[arch]['embed_dims'] if isinstance(arch, str) \
        else arch['embed_dims']
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='stl_mm.LVViT', arch=arch, img_size=img_size,
                          **backbone),
            head=dict(type='stl_mm.TokenLabelHead', num_classes=num_classes,
                      in_channels=D, fusion='cls_plus_max')))


def _timm_file(path, state, arch):
    """A timm training checkpoint: EMA + raw weights, module. prefixes."""
    raw = {f'module.{k}': torch.zeros_like(v) for k, v in state.items()}
    torch.save({'state_dict': raw, 'state_dict_ema': dict(state),
                'epoch': 309, 'arch': arch, 'version': 2, 'metric': 79.1,
                'args': argparse.Namespace(model=arch, img_size=224)}, path)


@needs_fixtures
@pytest.mark.parametrize('name', list(VARIANTS))
def test_upstream_keys_and_parameter_count(name):
    fixture = _fixture(name)
    arch, size = VARIANTS[name]
    with torch.device('meta'):
        model = _classifier(arch, size)
    upstream = classifier_to_upstream(model.state_dict())
    assert [[k, list(v.shape), str(v.dtype)] for k, v in upstream.items()] \
        == fixture['keys']
    assert sum(p.numel() for p in model.parameters()) == \
        fixture['param_count']


@needs_fixtures
def test_probe_parity_through_init_model(tmp_path):
    fixture = _fixture('lvvit_t')
    probe = fixture['probes'][0]
    state = synth_state_dict(fixture['keys'], probe['seed'])
    path = tmp_path / 'lvvit_t.pth.tar'
    _timm_file(path, state, 'lvvit_t')
    model = init_model('lvvit_t', checkpoint=str(path))
    x = torch.from_numpy(np.random.default_rng(probe['seed'] + 1000)
                         .standard_normal(probe['input_shape'])
                         .astype(np.float32))
    ref = np.load(FIXTURES / probe['outputs'])
    with torch.no_grad():
        cls, aux = model(x, mode='tensor')
        fused = model.head.fuse(cls, aux)
    for name, out in (('cls', cls), ('aux', aux), ('fused', fused)):
        err = (out - torch.from_numpy(ref[name])).abs().max().item()
        assert err < 1e-4, (name, err)
    # the eval-mode prediction is upstream's fused output
    pred = model.head.predict(model.extract_feat(x))[0].pred_score
    assert torch.allclose(pred, fused[0].softmax(-1), atol=1e-6)


@needs_fixtures
def test_checkpoint_of_another_resolution_keeps_its_grid(tmp_path):
    """A 384px file: init_model adopts its 24x24 embedding, gives the
    outputs of a model built at 384 on 384 inputs, and bicubically resized
    embeddings at 224."""
    keys = [[k, [1, 577, 240] if k == 'pos_embed' else s, d]
            for k, s, d in _fixture('lvvit_t')['keys']]
    state = synth_state_dict(keys, 7)
    path = tmp_path / 'lvvit_t_384.pth'
    torch.save(state, path)  # a plain released state dict
    model = init_model('lvvit_t', checkpoint=str(path))
    assert model.backbone.pos_grid == (24, 24)
    native = _classifier('lvvit_t', 384).eval()
    native.load_state_dict(_as_classifier(state), strict=True)
    gen = torch.Generator().manual_seed(0)
    x384 = torch.randn(1, 3, 384, 384, generator=gen)
    x224 = torch.randn(1, 3, 224, 224, generator=gen)
    with torch.no_grad():
        for a, b in zip(model(x384, mode='tensor'),
                        native(x384, mode='tensor')):
            assert torch.allclose(a, b, atol=1e-5)
        resized = dict(_as_classifier(state))
        grid = resized['backbone.pos_embed'][:, 1:].reshape(1, 24, 24, -1)
        grid = torch.nn.functional.interpolate(
            grid.permute(0, 3, 1, 2), size=(14, 14), mode='bicubic',
            align_corners=False).flatten(2).transpose(1, 2)
        resized['backbone.pos_embed'] = torch.cat(
            [resized['backbone.pos_embed'][:, :1], grid], 1)
        at224 = _classifier('lvvit_t', 224).eval()
        at224.load_state_dict(resized, strict=True)
        for a, b in zip(model(x224, mode='tensor'),
                        at224(x224, mode='tensor')):
            assert torch.allclose(a, b, atol=1e-5)


def _as_classifier(state):
    from stl_mm.models.utils import to_classifier_format
    return to_classifier_format(state)


def test_resize_loading_fits_the_model_grid():
    small = LVViT(TINY, img_size=64)
    state = small.state_dict()
    big = LVViT(TINY, img_size=96, pos_embed_loading='resize')
    big.load_state_dict(state, strict=True)
    assert big.pos_embed.shape[1] == 37 and big.pos_grid == (6, 6)
    keep = LVViT(TINY, img_size=96)
    keep.load_state_dict(state, strict=True)
    assert keep.pos_grid == (4, 4)
    assert torch.equal(keep.pos_embed, state['pos_embed'])


def _upstream_mix_token(model, x, box):
    """Upstream LV_ViT.forward's MixToken (index assignment), on our
    modules: the reference for the mask-based implementation."""
    bbx1, bby1, bbx2, bby2 = box
    x = model.patch_embed(x)
    B, D, h, w = x.shape
    temp = x.clone()
    temp[:, :, bbx1:bbx2, bby1:bby2] = x.flip(0)[:, :, bbx1:bbx2, bby1:bby2]
    x = temp.flatten(2).transpose(1, 2)
    x = torch.cat((model.cls_token.expand(B, -1, -1), x), 1) + model.pos_embed
    for blk in model.blocks:
        x = blk(x)
    x = model.norm(x)
    patch = x[:, 1:].reshape(B, h, w, D)
    temp = patch.clone()
    temp[:, bbx1:bbx2, bby1:bby2] = patch.flip(0)[:, bbx1:bbx2, bby1:bby2]
    return x[:, 0], temp.reshape(B, h * w, D)


def test_mix_token_matches_upstream():
    torch.manual_seed(0)
    model = LVViT(TINY, img_size=64).eval()
    x = torch.randn(3, 3, 64, 64)
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[1:3, 0:2] = True
    with torch.no_grad():
        (cls, patch), = model(x, mix_token_mask=mask)
        ref_cls, ref_patch = _upstream_mix_token(model, x, (1, 0, 3, 2))
        (plain_cls, _), = model(x)
        (none_cls, _), = model(x, mix_token_mask=torch.zeros_like(mask))
    assert torch.allclose(cls, ref_cls, atol=1e-6)
    assert torch.allclose(patch, ref_patch, atol=1e-6)
    assert torch.allclose(none_cls, plain_cls, atol=1e-6)
    assert not torch.allclose(cls, plain_cls, atol=1e-4)


def test_dense_outputs_and_token_grid():
    model = LVViT(TINY, img_size=64, out_indices=(0, -1)).eval()
    outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 4, 6)] * 2
    assert model.out_channels == [32, 32]
    cls_model = LVViT(TINY, img_size=64, out_type='cls_token')
    (cls, ), = [cls_model(torch.randn(1, 3, 32, 48))]
    assert cls.shape == (1, 32)


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match='Unknown LV-ViT arch'):
        LVViT('lvvit_xl')
    with pytest.raises(ValueError, match='multiples of 16'):
        LVViT(TINY, img_size=64)(torch.randn(1, 3, 60, 64))
    with pytest.raises(ValueError, match='pos_embed_loading'):
        LVViT(TINY, pos_embed_loading='stretch')
    with pytest.raises(ValueError, match='out_indices'):
        LVViT(TINY, out_indices=(5, ))


def test_frozen_stages_and_training_step():
    model = LVViT(TINY, img_size=32, frozen_stages=1, drop_path_rate=0.1)
    model.train()
    assert not model.patch_embed.bn1.training
    assert not model.pos_embed.requires_grad
    assert model.blocks[1].mlp.fc1.weight.requires_grad
    (cls, patch), = model(torch.randn(2, 3, 32, 32))
    (cls.sum() + patch.sum()).backward()
    assert model.blocks[1].attn.qkv.weight.grad is not None
    assert model.blocks[0].attn.qkv.weight.grad is None


def test_pretrained_init_reads_timm_files_and_resizes(tmp_path):
    """init_cfg=Pretrained: EMA weights of a timm file (module. prefixes,
    heads dropped), position embedding resized for fine-tuning."""
    torch.manual_seed(0)
    source = LVViT(TINY, img_size=32)
    state = dict(source.state_dict())
    state['head.weight'] = torch.randn(5, 32)
    state['aux_head.bias'] = torch.randn(5)
    path = tmp_path / 'tiny.pth.tar'
    _timm_file(path, state, 'tiny')
    model = LVViT(TINY, img_size=64, pos_embed_loading='resize',
                  init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.equal(model.blocks[1].mlp.fc2.weight,
                       source.blocks[1].mlp.fc2.weight)
    assert model.pos_grid == (4, 4)
    assert torch.equal(model.pos_embed[:, :1], source.pos_embed[:, :1])


def test_inference_api_gives_token_labels(tmp_path):
    """init_model + inference_model on a real image file: upstream eval
    pipeline (short side 248, centre crop 224), fused prediction, 14x14
    token labels, ImageNet class names."""
    from stl_mm.apis import inference_model
    import mmcv
    path = tmp_path / 'img.png'
    mmcv.imwrite(np.random.default_rng(0).integers(
        0, 255, (180, 260, 3), dtype=np.uint8), str(path))
    torch.manual_seed(0)
    model = init_model('lvvit_t')
    steps = [s['type'] for s in model.cfg.test_dataloader.dataset.pipeline]
    assert steps == ['LoadImageFromFile', 'ResizeEdge', 'CenterCrop',
                     'PackInputs']
    result, = inference_model(model, str(path), topk=3)
    assert result['token_labels'].shape == (14, 14)
    assert len(result['topk_classes']) == 3
