"""LV-ViT + UperNet (the upstream ADE20K recipe) under mmseg: the full
config builds with the parameter names and shapes of the released upstream
UperNet checkpoints (backbone with its side layers); its shrunk demo twin trains two iterations and validates on a
generated ADE20K-format folder through tools/train.py."""
import json

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from stl_mm.testing import FIXTURES, REPO, run_tool
from stl_mm.utils import register_all_modules

FULL = REPO / 'configs/lvvit/upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
DEMO = REPO / 'configs/lvvit/demo/upernet_lvvit-demo_1xb2-2it_demoade-128x128.py'


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    """4 training and 2 validation scenes: coloured rectangles whose
    ADE20K labels (1..150, 0 = ignore) are written as PNG maps."""
    root = tmp_path_factory.mktemp('ade')
    rng = np.random.default_rng(0)
    for split, count in (('training', 4), ('validation', 2)):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i in range(count):
            img = rng.integers(0, 60, (128, 192, 3), dtype=np.uint8)
            ann = np.zeros((128, 192), np.uint8)
            for label in rng.choice(np.arange(1, 151), 3, replace=False):
                y, x = rng.integers(0, 96), rng.integers(0, 160)
                img[y:y + 32, x:x + 32] = rng.integers(60, 255, 3)
                ann[y:y + 32, x:x + 32] = label
            mmcv.imwrite(img, str(root / 'images' / split / f'{i}.jpg'))
            mmcv.imwrite(ann, str(root / 'annotations' / split / f'{i}.png'))
    return root


def test_full_recipe_dense_outputs():
    register_all_modules(init_default_scope=False)
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(FULL))
    with DefaultScope.overwrite_default_scope('mmseg'), torch.device('meta'):
        model = MODELS.build(cfg.model)
        feats = model.extract_feat(torch.empty(1, 3, 512, 512))
    # upstream's side layers: strides 4, 8, 16, 16, the last 2048 wide
    assert [tuple(f.shape) for f in feats] == [
        (1, 384, 128, 128), (1, 384, 64, 64), (1, 384, 32, 32),
        (1, 2048, 32, 32)]


def _upstream_backbone_shapes():
    """What upstream's ``seg/mmseg/models/backbones/vit.py`` holds for
    LV-ViT-S at 512 px (``use_side_layer=True``, ``out_channels=2048``):
    the classification keys without norm and heads, a 32x32 position grid,
    and ``side_layer1..4`` (ConvTranspose / Conv, SyncBN, ReLU units)."""
    keys = json.loads((FIXTURES / 'lvvit_s.json').read_text())['keys']
    shapes = {k: tuple(s) for k, s, _ in keys
              if not k.startswith(('norm.', 'head.', 'aux_head.'))}
    shapes['pos_embed'] = (1, 32 * 32 + 1, 384)

    def bn(prefix, c):
        shapes.update({f'{prefix}.weight': (c, ), f'{prefix}.bias': (c, ),
                       f'{prefix}.running_mean': (c, ),
                       f'{prefix}.running_var': (c, ),
                       f'{prefix}.num_batches_tracked': ()})

    for i, k in ((1, 4), (2, 2)):
        shapes[f'side_layer{i}.0.weight'] = (384, 384, k, k)
        bn(f'side_layer{i}.1', 384)
        shapes[f'side_layer{i}.3.weight'] = (384, 384, 1, 1)
        bn(f'side_layer{i}.4', 384)
    shapes['side_layer3.0.weight'] = (384, 384, 1, 1)
    bn('side_layer3.1', 384)
    shapes['side_layer4.0.weight'] = (2048, 384, 1, 1)
    bn('side_layer4.1', 2048)
    return shapes


@pytest.mark.skipif(not FIXTURES.is_dir(), reason='no upstream fixtures')
def test_full_recipe_has_the_released_checkpoint_layout():
    register_all_modules(init_default_scope=False)
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(FULL))
    with DefaultScope.overwrite_default_scope('mmseg'), torch.device('meta'):
        model = MODELS.build(cfg.model)
    ours = {k: tuple(v.shape) for k, v in model.backbone.state_dict().items()}
    assert ours == _upstream_backbone_shapes()
    assert model.decode_head.in_channels == [384, 384, 384, 2048]
    assert model.with_neck is False


def test_demo_trains_and_validates(ade_root, tmp_path):
    work = tmp_path / 'work'
    opts = [f'{loader}_dataloader.dataset.data_root={ade_root}'
            for loader in ('train', 'val', 'test')]
    run_tool(['tools/train.py', str(DEMO), '--work-dir', str(work),
              '--cfg-options', *opts])
    scalars = [json.loads(line) for line in
               next(work.rglob('scalars.json')).read_text().splitlines()]
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert any('mIoU' in s for s in scalars)
