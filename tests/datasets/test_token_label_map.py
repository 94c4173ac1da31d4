"""Offline label maps in the pipeline: loading (safe, checked, clear
errors naming the image) and the crop record of the coordinate-carrying
crop/flip, checked against real pixels of an image on disk."""
import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from stl_mm.datasets.transforms.token_label_map import (
    LoadTokenLabelMap, MissingTokenLabelMap, RandomFlipWithCoords,
    RandomResizedCropWithCoords, TokenLabelMapError, label_map_path)
from stl_mm.utils import register_all_modules
from stl_mm.utils.checkpoint import UnsafeCheckpointError


class _Payload:
    """Unpickling this would run code in a full-pickle loader."""

    def __reduce__(self):
        return (print, ('pwned', ))


@pytest.fixture
def image_tree(tmp_path):
    """An image whose pixels encode their coordinates (B = x, G = y) and
    its label map."""
    W, H = 200, 120
    xs, ys = np.meshgrid(np.arange(W), np.arange(H))
    img = np.stack([xs, ys, np.zeros_like(xs)], -1).astype(np.uint8)
    path = tmp_path / 'images' / 'cat' / 'a.png'
    path.parent.mkdir(parents=True)
    mmcv.imwrite(img, str(path))
    maps = tmp_path / 'maps'
    value = torch.zeros(2, 3, 6, 10, dtype=torch.float16)
    value[1] = torch.tensor([2., 0., 1.]).view(3, 1, 1)
    (maps / 'cat').mkdir(parents=True)
    torch.save(value, maps / 'cat' / 'a.pt')
    return dict(img=path, maps=maps, W=W, H=H)


def _load(path):
    img = mmcv.imread(str(path))
    return dict(img=img, img_path=str(path), img_shape=img.shape[:2],
                ori_shape=img.shape[:2])


def test_map_path_conventions(tmp_path):
    assert label_map_path('/d/train/cat/a.JPEG', '/m') == '/m/cat/a.pt'
    assert label_map_path('/d/train/x/y/a.png', '/m', '/d/train') == \
        '/m/x/y/a.pt'
    with pytest.raises(ValueError, match='not inside img_root'):
        label_map_path('/e/a.png', '/m', '/d')


def test_load_checks_and_starts_the_record(image_tree):
    out = LoadTokenLabelMap(str(image_tree['maps']), num_classes=3,
                            map_size=(6, 10), topk=2)(_load(image_tree['img']))
    assert out['token_label_map'].shape == (2, 2, 6, 10)
    assert out['token_label_coords'].tolist() == [0, 0, 1, 1, 0, 0]
    with pytest.raises(TokenLabelMapError, match=r'a\.png.*another class'):
        LoadTokenLabelMap(str(image_tree['maps']), num_classes=2)(
            _load(image_tree['img']))
    with pytest.raises(TokenLabelMapError, match=r'a\.png.*6x10 grid'):
        LoadTokenLabelMap(str(image_tree['maps']), map_size=(14, 14))(
            _load(image_tree['img']))
    with pytest.raises(TokenLabelMapError, match='top-3 scores, 5 were'):
        LoadTokenLabelMap(str(image_tree['maps']), topk=5)(
            _load(image_tree['img']))


def test_missing_bad_and_unsafe_maps_name_the_image(image_tree, tmp_path):
    with pytest.raises(MissingTokenLabelMap, match=r'a\.png.*expected'):
        LoadTokenLabelMap(str(tmp_path / 'nowhere'))(
            _load(image_tree['img']))
    target = image_tree['maps'] / 'cat' / 'a.pt'
    torch.save(torch.zeros(5, 6, 10), target)
    with pytest.raises(TokenLabelMapError, match=r'a\.png.*\[2, k, H, W\]'):
        LoadTokenLabelMap(str(image_tree['maps']))(_load(image_tree['img']))
    torch.save({'x': _Payload()}, target)
    with pytest.raises(UnsafeCheckpointError):
        LoadTokenLabelMap(str(image_tree['maps']))(_load(image_tree['img']))


def _box_pixels(results):
    """The full-image x/y range the crop's pixels come from (B, G)."""
    img = results['img'].astype(float)
    return img[..., 0], img[..., 1]


@pytest.mark.parametrize('flip_first', [False, True])
def test_crop_and_flip_record_the_pixels_they_show(image_tree, flip_first):
    register_all_modules(init_default_scope=False)
    W, H = image_tree['W'], image_tree['H']
    crop = dict(type='stl_mm.RandomResizedCropWithCoords', scale=(48, 32),
                crop_ratio_range=(0.2, 0.5), backend='cv2',
                interpolation='nearest')
    flip = dict(type='stl_mm.RandomFlipWithCoords', prob=1.0,
                direction='horizontal')
    steps = [flip, crop] if flip_first else [crop, flip]
    pipeline = Compose([dict(type='stl_mm.LoadTokenLabelMap',
                             map_root=str(image_tree['maps'])), *steps])
    np.random.seed(3)
    for _ in range(5):
        out = pipeline(_load(image_tree['img']))
        x1, y1, x2, y2, hflip, vflip = out['token_label_coords'].tolist()
        assert hflip == 1 and vflip == 0
        xs, ys = _box_pixels(out)
        # cv2 nearest resizing samples floor(j * step): within one step
        tx = (x2 - x1) * W / xs.shape[1] + 1
        ty = (y2 - y1) * H / xs.shape[0] + 1
        # the crop is mirrored: its left column shows x2, its right x1
        assert abs(xs[:, 0].mean() - (x2 * W - 0.5)) < tx
        assert abs(xs[:, -1].mean() - (x1 * W + 0.5)) < tx
        assert abs(ys[0].mean() - (y1 * H + 0.5)) < ty
        assert abs(ys[-1].mean() - (y2 * H - 0.5)) < ty
        assert tx < 10 and ty < 10  # the check is not vacuous
    assert out['img'].shape[:2] == (48, 32)  # scale is (h, w)


def test_transforms_without_a_map_behave_as_their_parents(image_tree):
    results = _load(image_tree['img'])
    out = RandomResizedCropWithCoords(scale=32)(results)
    assert out['img'].shape[:2] == (32, 32)
    assert 'token_label_coords' not in out
    out = RandomFlipWithCoords(prob=1.0)(out)
    assert out['flip'] and 'token_label_coords' not in out
