"""imagecorruptions compatibility layer and the ImageCorruption transform."""
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

pytest.importorskip('imagecorruptions')

from stl_mm.robustness import corruptions as compat  # noqa: E402
from stl_mm.robustness.corruptions import (  # noqa: E402
    ALL_CORRUPTIONS, COMMON_CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt,
    resolve_corruptions)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COMPAT_FILE = osp.join(REPO, "stl_mm", "robustness", "corruptions.py")


def _image(h=48, w=80, seed=0):
    """A smooth non-square RGB test image with some texture."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w)], -1)
    return np.clip(base + rng.randint(0, 40, (h, w, 3)), 0,
                   255).astype(np.uint8)


def test_names_and_groups():
    assert len(ALL_CORRUPTIONS) == 19 and len(set(ALL_CORRUPTIONS)) == 19
    assert resolve_corruptions('common') == list(COMMON_CORRUPTIONS)
    assert resolve_corruptions(['extra', 'fog']) == \
        list(EXTRA_CORRUPTIONS) + ['fog']
    assert resolve_corruptions('fog,fog, snow') == ['fog', 'snow']
    assert resolve_corruptions(None) == list(ALL_CORRUPTIONS)
    with pytest.raises(ValueError, match='Did you mean "jpeg_compression"'):
        resolve_corruptions(['JPEG_Compression'])
    import imagecorruptions
    assert imagecorruptions.get_corruption_names('all') == \
        list(ALL_CORRUPTIONS)


def test_every_corruption_every_severity_non_square():
    img = _image()
    for name in ALL_CORRUPTIONS:
        for severity in range(1, 6):
            out = corrupt(img, name, severity, seed=severity)
            assert out.shape == img.shape and out.dtype == np.uint8, \
                (name, severity)
    # a portrait image too, for the corruptions that crop or tile
    tall = _image(80, 48)
    for name in ('frost', 'fog', 'zoom_blur', 'snow', 'elastic_transform',
                 'spatter', 'motion_blur', 'glass_blur'):
        assert corrupt(tall, name, 5, seed=1).shape == tall.shape


def test_broken_functions_are_patched_in_the_package():
    import imagecorruptions
    patched = compat.patched_functions()
    if not hasattr(np, 'float_'):
        assert 'fog' in patched
    img = _image()
    # through the package's own entry point, as mmdet's Corrupt calls it
    for name in ('glass_blur', 'gaussian_blur', 'fog', 'frost'):
        out = imagecorruptions.corrupt(img, corruption_name=name, severity=2)
        assert out.shape == img.shape
    untouched = set(ALL_CORRUPTIONS) - {'glass_blur', 'gaussian_blur', 'fog'}
    module = imagecorruptions.corruptions
    for name in untouched:
        assert not getattr(getattr(module, name), '__stl_mm_compat__', False)


def test_seeded_corruption_is_deterministic_and_keeps_global_state():
    img = _image()
    np.random.seed(123)
    expected_next = np.random.RandomState(123).rand()
    for name in ('gaussian_noise', 'impulse_noise', 'glass_blur', 'fog',
                 'frost', 'spatter', 'elastic_transform'):
        a = corrupt(img, name, 3, seed=7)
        b = corrupt(img, name, 3, seed=7)
        assert np.array_equal(a, b), name
    assert not np.array_equal(corrupt(img, 'impulse_noise', 3, seed=7),
                              corrupt(img, 'impulse_noise', 3, seed=8))
    assert np.random.rand() == expected_next


def test_import_without_pkg_resources():
    """setuptools >= 82: no pkg_resources. Frost still finds its files."""
    code = f'''
import sys, importlib.util
sys.modules['pkg_resources'] = None  # make "import pkg_resources" fail
for name in list(sys.modules):
    if name.startswith('imagecorruptions'):
        del sys.modules[name]
spec = importlib.util.spec_from_file_location('compat', {COMPAT_FILE!r})
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
import numpy as np
img = np.full((40, 56, 3), 100, np.uint8)
out = compat.corrupt(img, 'frost', 5, seed=0)
assert out.shape == img.shape
assert sys.modules['pkg_resources'] is None
print('ok')
'''
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'ok'


def test_transform_bgr_roundtrip_and_seed_from_path(tmp_path):
    from stl_mm.datasets.transforms import ImageCorruption
    rgb = _image()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    t = ImageCorruption(corruption='saturate', severity=4, seed=3,
                        data_root=str(tmp_path))
    res = t(dict(img=bgr.copy(), img_path=str(tmp_path / 'a' / 'x.png')))
    key = 'a/x.png'
    expected = corrupt(rgb, 'saturate', 4,
                       seed=compat.corruption_seed(key, 'saturate', 4, 3))
    # the transform works in RGB and returns BGR
    assert np.array_equal(res['img'], expected[..., ::-1])
    assert res['corruption'] == 'saturate' and res['severity'] == 4

    noise = ImageCorruption('shot_noise', 2, seed=0)
    a = noise(dict(img=bgr.copy(), img_path='/x/1.jpg'))['img']
    b = noise(dict(img=bgr.copy(), img_path='/y/1.jpg'))['img']
    c = noise(dict(img=bgr.copy(), img_path='/x/2.jpg'))['img']
    assert np.array_equal(a, b)  # default key: the file name
    assert not np.array_equal(a, c)
    gray = noise(dict(img=bgr[..., 0].copy()))['img']
    assert gray.shape == bgr.shape[:2]
    with pytest.raises(ValueError):
        ImageCorruption('fog', severity=6)
    with pytest.raises(ValueError, match='Unknown corruption'):
        ImageCorruption('Fog')


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg', 'mmdet'])
def test_transform_in_library_pipelines(tmp_path, scope):
    """Built by each library's registry (as its datasets build pipelines)
    after the library's own LoadImageFromFile."""
    lib = pytest.importorskip(scope)
    registry = __import__(f'{lib.__name__}.registry',
                          fromlist=['TRANSFORMS']).TRANSFORMS
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, _image()[..., ::-1])
    from mmcv.transforms import Compose
    pipeline = Compose([
        registry.build(dict(type='LoadImageFromFile')),
        registry.build(dict(type='stl_mm.ImageCorruption',
                            corruption='motion_blur', severity=2)),
    ])
    out = pipeline(dict(img_path=path))
    assert out['img'].shape == (48, 80, 3)
    assert out['corruption'] == 'motion_blur'
