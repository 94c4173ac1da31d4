"""Every segmentation/detection config builds its model, and the full
configs hold the FAN/STL recipes (docs/downstream.md)."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from stl_mm.testing import REPO

SEG_CONFIGS = sorted((REPO / 'configs/segmentation').glob('*.py'))
DET_CONFIGS = sorted((REPO / 'configs/detection').glob('*.py'))
VARIANTS = {'tiny-8': ('fan_tiny_8_p4_hybrid', 192),
            'small-12': ('fan_small_12_p4_hybrid', 384),
            'base-16': ('fan_base_16_p4_hybrid', 448),
            'large-16': ('fan_large_16_p4_hybrid', 480)}


def _ids(paths):
    return [p.stem for p in paths]


def _variant(path: Path):
    for short, (arch, dims) in VARIANTS.items():
        if f'fan-{short}-p4-hybrid' in path.name:
            return arch, dims
    return None, None


def _build_on_meta(cfg):
    with DefaultScope.overwrite_default_scope(cfg.default_scope), \
            torch.device('meta'):
        return MODELS.build(cfg.model)


def test_every_variant_has_configs():
    for short in VARIANTS:
        for token in ('', '-token'):
            assert (REPO / 'configs/segmentation' /
                    f'segformer_fan-{short}-p4-hybrid{token}_8xb1-160k_'
                    'cityscapes-1024x1024.py').is_file()
            assert (REPO / 'configs/detection' /
                    f'cascade-mask-rcnn_fan-{short}-p4-hybrid{token}_fpn_'
                    '8xb1-3x_coco.py').is_file()


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=_ids(SEG_CONFIGS))
def test_segmentation_config_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmseg'
    assert cfg.model.type == 'EncoderDecoder'
    # a segmentor-level `pretrained` would be injected into stl_mm.FAN
    assert cfg.model.get('pretrained') is None
    model = _build_on_meta(cfg)
    assert model.backbone.out_channels == list(
        cfg.model.decode_head.in_channels)
    # shapes flow through backbone and decode head
    model.eval()
    logits = model(torch.empty(1, 3, 64, 64, device='meta'), mode='tensor')
    assert tuple(logits.shape) == (1, cfg.model.decode_head.num_classes, 16,
                                   16)
    arch, dims = _variant(path)
    if 'demo' in path.name:  # the demo configs
        assert cfg.sync_bn is None
        assert cfg.model.decode_head.norm_cfg.type == 'BN'
        return
    if arch is None:  # FAN-Swin: tests/downstream/test_fan_swin_downstream
        assert cfg.sync_bn == 'torch'
        return
    token = '-token' in path.name
    assert cfg.model.backbone.arch == arch + ('_token' if token else '')
    assert cfg.model.decode_head.in_channels == [128, 256, dims, dims]
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.checkpoint.endswith(
        ('_token.pth.tar' if token else 'hybrid.pth.tar'))


def test_segmentation_recipe():
    cfg = Config.fromfile(str(
        REPO / 'configs/segmentation/segformer_fan-small-12-p4-hybrid_'
        '8xb1-160k_cityscapes-1024x1024.py'))
    head = cfg.model.decode_head
    assert (head.type, head.channels, head.dropout_ratio, head.num_classes,
            head.in_index) == ('SegformerHead', 768, 0.1, 19, [0, 1, 2, 3])
    assert head.norm_cfg.type == 'SyncBN' and cfg.sync_bn == 'torch'
    assert cfg.model.backbone.out_indices == (0, 1, 2, 3)
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(1024, 1024),
                                      stride=(768, 768))
    pipeline = {t.type: t for t in cfg.train_pipeline}
    assert pipeline['RandomResize'].scale == (2048, 1024)
    assert pipeline['RandomResize'].ratio_range == (0.5, 2.0)
    assert pipeline['RandomCrop'].crop_size == (1024, 1024)
    assert {'RandomFlip', 'PhotoMetricDistortion'} <= set(pipeline)
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.train_cfg.max_iters == 160000
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.betas,
            optimizer.weight_decay) == ('AdamW', 6e-5, (0.9, 0.999), 0.01)
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 1500)
    assert (poly.type, poly.power, poly.begin, poly.end) == ('PolyLR', 1.0,
                                                             1500, 160000)
    assert cfg.val_evaluator.type == 'IoUMetric'


def test_segmentation_param_groups():
    """Decode head lr x10; no weight decay on any norm, head included."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(str(SEG_CONFIGS[0].parent /
                              'segformer_fan-demo_1xb2-40it_democity-'
                              '128x256.py'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr, wd = cfg.optim_wrapper.optimizer.lr, 0.01
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {names[id(g['params'][0])]: g
              for g in wrapper.optimizer.param_groups}
    expect = {
        'decode_head.conv_seg.weight': (10 * lr, wd),
        'decode_head.fusion_conv.bn.weight': (10 * lr, 0.),
        'decode_head.convs.3.bn.bias': (10 * lr, 0.),
        'backbone.blocks.0.attn.q.weight': (lr, wd),
        'backbone.blocks.0.norm1.weight': (lr, 0.),
        'backbone.blocks.1.mlp.norm_v.bias': (lr, 0.),
        'backbone.blocks.0.mlp.mlp_v.dwconv.bn.weight': (lr, 0.),
        'backbone.patch_embed.backbone.stem.1.weight': (lr, 0.),
    }
    for name, (group_lr, group_wd) in expect.items():
        assert name in groups, name
        assert groups[name]['lr'] == pytest.approx(group_lr), name
        assert groups[name]['weight_decay'] == pytest.approx(group_wd), name


@pytest.mark.parametrize('path', DET_CONFIGS, ids=_ids(DET_CONFIGS))
def test_detection_config_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.type == 'CascadeRCNN'
    model = _build_on_meta(cfg)
    backbone = model.backbone
    assert backbone.out_channels == list(cfg.model.neck.in_channels)
    assert backbone.out_strides == [4, 8, 16, 32]
    model.eval()
    feats = model.extract_feat(torch.empty(1, 3, 64, 96, device='meta'))
    assert len(feats) == 5
    assert all(f.shape[1] == cfg.model.neck.out_channels for f in feats)
    heads = cfg.model.roi_head.bbox_head
    assert len(heads) == 3
    for head in heads:
        assert head.type == 'Shared4Conv1FCBBoxHead'
        assert head.reg_decoded_bbox
        assert (head.loss_bbox.type, head.loss_bbox.loss_weight) == (
            'GIoULoss', 10.0)
    assert cfg.model.roi_head.mask_head.type == 'FCNMaskHead'
    arch, dims = _variant(path)
    if arch is None and 'demo' not in path.name:  # FAN-Swin (own tests)
        assert cfg.sync_bn == 'torch'
        return
    if arch is None:  # the demo configs
        assert cfg.sync_bn is None and heads[0].norm_cfg.type == 'BN'
        assert heads[0].num_classes == 4
        assert cfg.train_dataloader.dataset.metainfo['classes'] == (
            'disc', 'square', 'triangle', 'cross')
        return
    token = '-token' in path.name
    assert cfg.model.backbone.arch == arch + ('_token' if token else '')
    assert cfg.model.backbone.out_norms is token
    assert backbone.out_norms is not None if token else \
        backbone.out_norms is None
    assert cfg.model.backbone.det_downsample
    assert cfg.model.backbone.with_cp
    assert cfg.model.backbone.drop_path_rate == 0.3
    assert cfg.model.neck.in_channels == [128, 256, dims, 768]
    assert cfg.model.neck.num_outs == 5
    assert all(h.norm_cfg.type == 'SyncBN' and h.num_classes == 80
               for h in heads)
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'


def test_detection_recipe():
    cfg = Config.fromfile(str(
        REPO / 'configs/detection/cascade-mask-rcnn_fan-small-12-p4-hybrid_'
        'fpn_8xb1-3x_coco.py'))
    assert cfg.train_cfg.max_epochs == 36
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.by_epoch) == ('LinearLR', 500,
                                                          False)
    assert (steps.type, steps.milestones) == ('MultiStepLR', [27, 33])
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == (
        'AdamW', 1e-4, 0.05)
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0.
    # plain OptimWrapper so that --amp can pick AmpOptimWrapper (GPU) or
    # bf16 autocast (CPU)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.train_dataloader.batch_size == 1
    choice = [t for t in cfg.train_pipeline if t.type == 'RandomChoice'][0]
    single, crop = choice.transforms
    shorts = [min(s) for s in single[0].scales]
    assert (min(shorts), max(shorts)) == (480, 800)
    assert all(max(s) == 1333 for s in single[0].scales)
    assert [t.type for t in crop] == ['RandomChoiceResize', 'RandomCrop',
                                      'RandomChoiceResize']
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    assert cfg.find_unused_parameters is True
