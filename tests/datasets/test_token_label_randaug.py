"""RandAugment's geometric ops warp the offline label map like the image
(upstream TokenLabeling): checked against the pixels of a real image file
whose content is a function of its label map, the fill outside the image,
upstream's map-cell conventions, the order rules and the photometric-only
switch."""
import math

import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from stl_mm.datasets.transforms.token_label_randaug import (
    RandAugmentWithLabelMap, label_map_matrix, warp_label_map)
from stl_mm.testing import REPO
from stl_mm.utils import register_all_modules

GRID = 14          # label-map cells per side
CELL = 8           # pixels per cell
SIZE = GRID * CELL
COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]],
                   dtype=np.uint8)  # BGR of the 4 classes
PAD = 128          # grey, no class colour


@pytest.fixture(scope='module', autouse=True)
def _scope():
    register_all_modules(init_default_scope=False)


def _classes():
    """Class of every map cell: 4x4-cell blocks, so that most cells are
    not at a class border."""
    r, c = np.mgrid[0:GRID, 0:GRID]
    return (r // 4 * 3 + c // 4) % 4


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    """An image file whose pixels show the class of their map cell, and
    that map (top-2: the class with score 5, the next class with 1)."""
    root = tmp_path_factory.mktemp('tl')
    cls = _classes()
    img = COLOURS[np.kron(cls, np.ones((CELL, CELL), dtype=int))]
    path = root / 'images' / 'c0' / 'a.png'
    path.parent.mkdir(parents=True)
    mmcv.imwrite(img, str(path))
    value = torch.zeros(2, 2, GRID, GRID, dtype=torch.float16)
    value[0, 0], value[0, 1] = 5., 1.
    value[1, 0] = torch.from_numpy(cls).half()
    value[1, 1] = torch.from_numpy((cls + 1) % 4).half()
    (root / 'maps' / 'c0').mkdir(parents=True)
    torch.save(value, root / 'maps' / 'c0' / 'a.pt')
    return dict(img=str(path), maps=str(root / 'maps'))


def _pixel_classes(img):
    """Per map cell: the class colour most of its pixels show, -1 where
    most are the pad colour (outside the warped image)."""
    dist = np.abs(img[..., None, :].astype(int) -
                  np.concatenate([COLOURS, [[PAD] * 3]])[None, None]).sum(-1)
    nearest = dist.argmin(-1)  # 0..3 classes, 4 = pad
    cells = nearest.reshape(GRID, CELL, GRID, CELL).transpose(0, 2, 1, 3)
    votes = np.stack([(cells == k).sum((-1, -2)) for k in range(5)], -1)
    out = votes.argmax(-1)
    out[out == 4] = -1
    return out


def _map_classes(value):
    """Per cell: the top-1 class, -1 where all scores are 0 (fill)."""
    out = value[1, 0].float().numpy().astype(int)
    out[(value[0].float() == 0).all(0).numpy()] = -1
    return out


def _pipeline(policy, sample_maps, flip=False, magnitude=9, **kwargs):
    steps = [dict(type='LoadImageFromFile'),
             dict(type='stl_mm.LoadTokenLabelMap', map_root=sample_maps)]
    if flip:
        steps.append(dict(type='stl_mm.RandomFlipWithCoords', prob=1.0,
                          direction='horizontal'))
    steps.append(dict(type='stl_mm.RandAugmentWithLabelMap',
                      policies=[dict(policy, prob=1.0)], num_policies=1,
                      magnitude_level=magnitude, magnitude_std=0.5,
                      total_level=10,
                      hparams=dict(pad_val=[PAD] * 3, interpolation='bicubic'),
                      **kwargs))
    return Compose(steps)


GEOMETRIC = [
    dict(type='Rotate', magnitude_range=(0, 30)),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical'),
    dict(type='Translate', magnitude_range=(0, 0.45),
         direction='horizontal'),
    dict(type='Translate', magnitude_range=(0, 0.45), direction='vertical'),
]


@pytest.mark.parametrize('flip', [False, True])
@pytest.mark.parametrize('policy', GEOMETRIC,
                         ids=lambda p: f"{p['type']}-{p.get('direction')}")
def test_the_map_is_warped_like_the_image(sample, policy, flip):
    pipeline = _pipeline(policy, sample['maps'], flip=flip)
    for seed in range(4):  # both signs of the random magnitude
        np.random.seed(seed)
        out = pipeline(dict(img_path=sample['img']))
        pixels = _pixel_classes(out['img'])
        labels = _map_classes(out['token_label_map'])
        agree = (pixels == labels).mean()
        # cell-level nearest sampling vs the image's bicubic warp: only
        # cells cut by a class or image border may differ; upstream turns
        # the map about cell (7, 7), half a cell off the image centre
        # (6.5, 6.5), which costs rotations another 5-15 %
        assert agree >= (0.7 if policy['type'] == 'Rotate' else 0.85), \
            (seed, agree)
        # the check is not vacuous: the unwarped map does not fit
        original = torch.load(sample['maps'] + '/c0/a.pt')
        if flip:
            original = original.flip(-1)
        assert (pixels == _map_classes(original)).mean() < agree - 0.1
        # the recorded flip went into the map; the record is clean
        assert out['token_label_coords'].tolist() == [0, 0, 1, 1, 0, 0]
        assert out['token_label_map'].dtype == torch.float16


def test_fill_outside_the_image_is_upstream():
    """Translating by 2 cells: the cells entering from outside have score
    0 (``mode='constant'``) and the border cell's class index
    (``mode='nearest'``), as upstream ``affine_label``."""
    value = torch.zeros(2, 3, 5, 6)
    value[0] = torch.rand(3, 5, 6) + 0.5
    value[1] = torch.randint(0, 9, (3, 5, 6)).float()
    pct = 2 / 6
    out = warp_label_map(value, label_map_matrix('TranslateXRel', pct,
                                                 (5, 6)))
    assert torch.equal(out[:, :, :, :4], value[:, :, :, 2:])
    assert (out[0, :, :, 4:] == 0).all()
    assert torch.equal(out[1, :, :, 4:],
                       value[1, :, :, 5:].expand(3, 5, 2))
    down = warp_label_map(value, label_map_matrix('TranslateYRel', -0.4,
                                                  (5, 6)))
    assert torch.equal(down[:, :, 2:], value[:, :, :3])
    assert (down[0, :, :2] == 0).all()
    assert torch.equal(down[1, :, :2], value[1, :, :1].expand(3, 2, 6))


def test_upstream_cell_conventions():
    """Rotation about cell (H/2, W/2), counter-clockwise for a positive
    angle; shear factors in cells (upstream rotate_label / shear_*_label)."""
    value = torch.zeros(2, 1, 4, 4)
    value[0] = 1.
    value[1, 0] = torch.arange(16.).view(4, 4)
    out = warp_label_map(value, label_map_matrix('Rotate', 90., (4, 4)))
    # output (r, c) reads input (c, 4 - r): row 0 falls outside the map
    assert (out[0, 0, 0] == 0).all() and (out[0, 0, 1:] == 1).all()
    for r in range(1, 4):
        for c in range(4):
            assert out[1, 0, r, c] == value[1, 0, c, 4 - r]
    # counter-clockwise: the top-right input corner moves to the top left
    assert out[1, 0, 1, 0] == value[1, 0, 0, 3]
    shear = warp_label_map(value, label_map_matrix('ShearX', 1., (4, 4)))
    assert shear[1, 0, 1, 0] == value[1, 0, 1, 1]  # (r, c) <- (r, c + r)
    assert shear[0, 0, 3, 1] == 0  # column 4 is outside
    m = label_map_matrix('Rotate', 30., (14, 14))
    assert m[0] == pytest.approx(math.cos(math.radians(30)))
    assert m[1] == pytest.approx(math.sin(math.radians(30)))


def test_photometric_ops_keep_the_map_and_the_flip_record(sample):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='stl_mm.LoadTokenLabelMap', map_root=sample['maps']),
        dict(type='stl_mm.RandomFlipWithCoords', prob=1.0),
        dict(type='stl_mm.RandAugmentWithLabelMap',
             policies=[dict(type='Invert', prob=1.0)], num_policies=1,
             magnitude_level=9)])
    out = pipeline(dict(img_path=sample['img']))
    assert torch.equal(out['token_label_map'],
                       torch.load(sample['maps'] + '/c0/a.pt'))
    assert out['token_label_coords'][4] == 1  # still only recorded


def test_a_crop_before_it_is_refused(sample):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='stl_mm.LoadTokenLabelMap', map_root=sample['maps']),
        dict(type='stl_mm.RandomResizedCropWithCoords', scale=64),
        dict(type='stl_mm.RandAugmentWithLabelMap',
             policies='timm_increasing', num_policies=2,
             magnitude_level=9)])
    with pytest.raises(ValueError, match='before RandomResizedCropWithCoords'):
        pipeline(dict(img_path=sample['img']))


def test_switch_draws_photometric_ops_only(sample):
    upstream = RandAugmentWithLabelMap(policies='timm_increasing',
                                       num_policies=2, magnitude_level=9)
    plain = RandAugmentWithLabelMap(policies='timm_increasing',
                                    num_policies=2, magnitude_level=9,
                                    warp_label_map=False)
    assert len(upstream.policies) == 15 and len(upstream.spatial_indices) == 5
    names = [p['type'] for p in plain.policies]
    assert len(names) == 10 and not plain.spatial_indices
    assert not {'Rotate', 'Shear', 'Translate'} & set(names)
    load = Compose([dict(type='LoadImageFromFile'),
                    dict(type='stl_mm.LoadTokenLabelMap',
                         map_root=sample['maps'])])
    stored = torch.load(sample['maps'] + '/c0/a.pt')
    changed = 0
    for seed in range(20):
        np.random.seed(seed)
        assert torch.equal(plain(load(dict(img_path=sample['img'])))[
            'token_label_map'], stored)
        np.random.seed(seed)
        out = upstream(load(dict(img_path=sample['img'])))
        changed += not torch.equal(out['token_label_map'], stored)
    assert changed > 3  # the default does warp


RECIPE = REPO / 'configs/lvvit/token-labeling_lvvit-s_8xb128-300e_in1k.py'


@pytest.fixture(scope='module')
def imagenet_like(tmp_path_factory):
    """8 non-square training images in 2 class folders and their 14x14
    top-5 maps (ImageNet layout, 5 classes)."""
    root = tmp_path_factory.mktemp('inet')
    rng = np.random.default_rng(0)
    for i in range(8):
        name = f'n0{i % 2}/img{i}.JPEG'
        (root / 'train' / name).parent.mkdir(parents=True, exist_ok=True)
        h, w = (rng.integers(60, 100) for _ in range(2))
        mmcv.imwrite(rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                     str(root / 'train' / name))
        value = torch.empty(2, 5, GRID, GRID, dtype=torch.float16)
        value[0] = torch.linspace(4., 0., 5).view(5, 1, 1)
        value[1] = torch.from_numpy(np.stack(
            [rng.permutation(5) for _ in range(GRID * GRID)], -1).reshape(
                5, GRID, GRID)).half()
        (root / 'maps' / name).parent.mkdir(parents=True, exist_ok=True)
        torch.save(value, root / 'maps' / name.replace('.JPEG', '.pt'))
    return root


@pytest.mark.parametrize('switch', [False, True],
                         ids=['upstream', 'photometric-switch'])
def test_imagenet_recipe_trains_through_the_runner(imagenet_like, tmp_path,
                                                   switch):
    """The LV-ViT-S ImageNet config, its pipeline unchanged (only the data
    root, the class count and a tiny LV-ViT swapped in), runs 2 steps."""
    from mmengine.config import Config

    from stl_mm.engine import build_train_runner
    cfg = Config.fromfile(str(RECIPE))
    pipeline = cfg.photometric_train_pipeline if switch else \
        cfg.train_dataloader.dataset.pipeline
    for t in pipeline:
        if t['type'] == 'stl_mm.LoadTokenLabelMap':
            t.update(map_root=str(imagenet_like / 'maps'), num_classes=5)
    types = [t['type'].split('.')[-1] for t in pipeline]
    ra = pipeline[types.index('RandAugmentWithLabelMap')]
    assert ra.get('warp_label_map', True) is not switch
    crop, rand = types.index('RandomResizedCropWithCoords'), \
        types.index('RandAugmentWithLabelMap')
    assert (crop < rand) is switch  # upstream: RandAugment before the crop
    cfg.train_dataloader.update(
        batch_size=4, num_workers=0, persistent_workers=False,
        pin_memory=False)
    cfg.train_dataloader.dataset = dict(
        type='CustomDataset', data_root=str(imagenet_like),
        data_prefix='train', pipeline=pipeline)
    cfg.model.backbone.update(arch=dict(embed_dims=32, depth=1, num_heads=2,
                                        stem_channels=8, skip_lam=2.0),
                              drop_path_rate=0.)
    cfg.model.head.update(num_classes=5, in_channels=32)
    cfg.model.data_preprocessor.num_classes = 5
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=10)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = str(tmp_path / 'work')
    cfg.randomness = dict(seed=0)
    runner = build_train_runner(cfg)
    runner.train()
    assert runner.iter == 2
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
