"""Random-resized crop with bilinear or bicubic interpolation per image
(timm's --train-interpolation random), on real image files."""
import numpy as np
import pytest
from mmcv.transforms import Compose
from PIL import Image

from stl_mm.datasets.transforms import RandomResizedCropAndInterpolation
from stl_mm.registry import TRANSFORMS
from stl_mm.utils import register_all_modules

SIZE = 32


@pytest.fixture(autouse=True, scope='module')
def _scope():
    register_all_modules()


@pytest.fixture(scope='module')
def image_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (70, 90, 3)).astype(np.uint8)
    path = tmp_path_factory.mktemp('img') / 'noise.png'
    Image.fromarray(img).save(path)
    return str(path)


def _run(pipeline, path, seed):
    np.random.seed(seed)
    return Compose([TRANSFORMS.build(t) for t in pipeline])(
        dict(img_path=path, gt_label=0))


LOAD = dict(type='LoadImageFromFile')


def test_each_image_gets_bilinear_or_bicubic_like_mmpretrain_crop(image_file):
    crop = dict(type='stl_mm.RandomResizedCropAndInterpolation', scale=SIZE,
                backend='pillow')
    chosen = []
    for seed in range(12):
        out = _run([LOAD, crop], image_file, seed)['img']
        assert out.shape == (SIZE, SIZE, 3)
        np.random.seed(seed)  # the same crop draws, then the choice
        t = TRANSFORMS.build(crop)
        params = t.rand_crop_params(np.zeros((70, 90, 3)))
        interp = t.rand_interpolation()
        chosen.append(interp)
        # the crop of mmpretrain's RandomResizedCrop with that interpolation
        np.random.seed(seed)
        ref = _run([LOAD, dict(type='RandomResizedCrop', scale=SIZE,
                               backend='pillow', interpolation=interp)],
                   image_file, seed)['img']
        assert params  # drawn
        assert np.array_equal(out, ref), seed
    assert set(chosen) == {'bilinear', 'bicubic'}


def test_teacher_view_replays_the_same_interpolation(image_file):
    pipeline = [LOAD, dict(type='stl_mm.AddTeacherView'), dict(
        type='stl_mm.TwoViewSpatial', transforms=[dict(
            type='stl_mm.RandomResizedCropAndInterpolation', scale=SIZE,
            backend='pillow')])]
    for seed in range(6):
        out = _run(pipeline, image_file, seed)
        assert np.array_equal(out['img'], out['teacher_img']), seed


def test_fixed_interpolation_and_bad_names():
    t = RandomResizedCropAndInterpolation(SIZE, interpolation='bicubic')
    assert {t.rand_interpolation() for _ in range(5)} == {'bicubic'}
    assert 'bilinear' in repr(RandomResizedCropAndInterpolation(SIZE))
    with pytest.raises(ValueError, match='Unknown interpolation'):
        RandomResizedCropAndInterpolation(SIZE, interpolation=['bicubic',
                                                               'cubic'])
    # the parent class keeps its own list of random methods
    from mmpretrain.datasets.transforms import RandomResizedCrop
    assert 'rand_interpolation' not in \
        RandomResizedCrop._methods_with_randomness
