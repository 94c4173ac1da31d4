"""The teacher view shares the student's geometry and none of its colour
changes; the RandomResizedCrop + TransformBroadcaster bug is worked around."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose, TransformBroadcaster
from PIL import Image

from stl_mm.registry import TRANSFORMS
from stl_mm.utils import register_all_modules

SIZE = 48


@pytest.fixture(autouse=True, scope='module')
def _scope():
    register_all_modules()


@pytest.fixture(scope='module')
def image_file(tmp_path_factory):
    """A real image file on disk with structure and colour."""
    rng = np.random.default_rng(0)
    h, w = 90, 120
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 2 % 256, yy * 3 % 256, (xx + yy) % 256], -1)
    img[20:50, 30:80] = rng.integers(0, 256, (30, 50, 3))
    path = tmp_path_factory.mktemp('img') / 'sample.png'
    Image.fromarray(img.astype(np.uint8)).save(path)
    return str(path)


def _run(pipeline, path, seed):
    np.random.seed(seed)
    torch.manual_seed(seed)
    return Compose([TRANSFORMS.build(t) for t in pipeline])(
        dict(img_path=path, gt_label=1))


LOAD = [dict(type='LoadImageFromFile'), dict(type='stl_mm.AddTeacherView')]
SPATIAL = dict(type='stl_mm.TwoViewSpatial', transforms=[
    dict(type='RandomResizedCrop', scale=SIZE, crop_ratio_range=(0.2, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
])
GEOMETRIC = [
    dict(type='Rotate', magnitude_range=(0, 30), prob=1.0),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical'),
    dict(type='Translate', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Translate', magnitude_range=(0, 0.3), direction='vertical'),
]


def test_random_resized_crop_broadcaster_bug_and_workaround(image_file):
    rrc = dict(type='RandomResizedCrop', scale=SIZE)
    names = TRANSFORMS.build(rrc)._methods_with_randomness
    plain = TransformBroadcaster(
        transforms=[rrc], mapping={'img': ['img', 'teacher_img']},
        auto_remap=True, share_random_params=True)
    data = _run(LOAD, image_file, 0)
    if len(names) != len(set(names)):  # the bug described in environment.md
        with pytest.raises(RuntimeError, match='invoked 2 times'):
            plain(dict(data))
    out = _run(LOAD + [SPATIAL], image_file, 0)
    assert out['img'].shape == (SIZE, SIZE, 3)
    assert tuple(out['img_shape'][:2]) == (SIZE, SIZE)  # student metadata


def test_spatial_transforms_are_shared(image_file):
    flips, crops = set(), set()
    for seed in range(12):
        out = _run(LOAD + [SPATIAL], image_file, seed)
        assert np.array_equal(out['img'], out['teacher_img'])
        flips.add(out['flip'])
        crops.add(out['img'][0, 0].tobytes())
    assert flips == {True, False}
    assert len(crops) > 6  # the crops really are random
    # without sharing the two views differ: the equality above is meaningful
    unshared = dict(SPATIAL, type='TransformBroadcaster',
                    mapping={'img': ['img', 'teacher_img']},
                    share_random_params=False, transforms=[SPATIAL[
                        'transforms'][1]])
    differs = [not np.array_equal(o['img'], o['teacher_img']) for o in (
        _run(LOAD + [unshared], image_file, s) for s in range(12))]
    assert any(differs)


def test_geometric_randaugment_ops_are_shared(image_file):
    aug = dict(type='stl_mm.TwoViewRandAugment', policies=GEOMETRIC,
               num_policies=2, magnitude_level=9, magnitude_std=0.5)
    changed = 0
    for seed in range(10):
        out = _run(LOAD + [SPATIAL, aug], image_file, seed)
        ref = _run(LOAD + [SPATIAL], image_file, seed)
        assert np.array_equal(out['img'], out['teacher_img'])
        changed += not np.array_equal(out['img'], ref['img'])
    assert changed >= 5


def test_photometric_ops_and_erasing_skip_the_teacher(image_file):
    """Rotate/Invert mixes: the teacher equals the student up to inversion
    (same geometry) and differs in colour whenever Invert was drawn an odd
    number of times; random erasing only hits the student."""
    policies = [dict(type='Rotate', magnitude_range=(0, 30), prob=1.0),
                dict(type='Invert', prob=1.0)]
    aug = dict(type='stl_mm.TwoViewRandAugment', policies=policies,
               num_policies=2, magnitude_level=9, magnitude_std=0.5)
    c = slice(SIZE // 4, 3 * SIZE // 4)  # away from rotation padding
    inverted = rotated = 0
    for seed in range(16):
        out = _run(LOAD + [SPATIAL, aug], image_file, seed)
        s, t = out['img'][c, c].astype(int), out['teacher_img'][c, c]
        if np.array_equal(s, t):
            pass
        else:
            assert np.array_equal(s, 255 - t.astype(int))
            inverted += 1
        ref = _run(LOAD + [SPATIAL], image_file, seed)
        rotated += not np.array_equal(out['teacher_img'], ref['teacher_img'])
    assert inverted >= 3 and rotated >= 3

    erase = dict(type='RandomErasing', erase_prob=1.0, mode='const',
                 fill_color=(0, 0, 0), min_area_ratio=0.2,
                 max_area_ratio=0.4)
    out = _run(LOAD + [SPATIAL, erase], image_file, 0)
    ref = _run(LOAD + [SPATIAL], image_file, 0)
    assert np.array_equal(out['teacher_img'], ref['teacher_img'])
    assert not np.array_equal(out['img'], ref['img'])


def test_full_timm_style_pipeline_packs_both_views(image_file):
    pipeline = LOAD + [
        SPATIAL,
        dict(type='stl_mm.TwoViewRandAugment', policies='timm_increasing',
             num_policies=2, total_level=10, magnitude_level=9,
             magnitude_std=0.5, hparams=dict(pad_val=[104, 116, 124])),
        dict(type='RandomErasing', erase_prob=0.3, mode='rand'),
        dict(type='PackInputs', algorithm_keys=['teacher_img']),
    ]
    out = _run(pipeline, image_file, 0)
    assert out['inputs'].shape == (3, SIZE, SIZE)
    teacher = out['data_samples'].teacher_img
    assert teacher.shape == (SIZE, SIZE, 3)
    # the data preprocessor turns the packed view into a normalised batch
    from stl_mm.registry import MODELS
    pre = MODELS.build(dict(type='stl_mm.STLDataPreprocessor',
                            mean=[0, 0, 0], std=[1, 1, 1], num_classes=3))
    batch = pre(dict(inputs=[out['inputs']],
                     data_samples=[out['data_samples']]), training=True)
    torch.testing.assert_close(
        batch['teacher_inputs'][0],
        torch.from_numpy(teacher).permute(2, 0, 1).float())


def test_missing_teacher_view_is_a_clear_error(image_file):
    with pytest.raises(KeyError, match='AddTeacherView'):
        _run([dict(type='LoadImageFromFile'), SPATIAL], image_file, 0)
