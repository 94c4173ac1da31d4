"""The demo's texture-class set (make_demo_data(cls_style='texture'))."""
import json

import numpy as np
import pytest
from PIL import Image

from stl_mm.datasets import demo_data as dd


def test_texture_set_layout_masks_and_determinism(tmp_path):
    kwargs = dict(tasks=['cls'], num_classes=4, train_per_class=2,
                  val_per_class=2, img_size=128, seed=0, cls_style='texture',
                  log=None)
    assert dd.make_demo_data(str(tmp_path / 'a'), **kwargs) == dict(
        cls='generated')
    root = tmp_path / 'a' / 'cls'
    names = dd.texture_class_names(4)
    assert names == ['class_00_stripes', 'class_01_checker', 'class_02_dots',
                     'class_03_hatch']
    assert (root / 'meta' / 'classes.txt').read_text().split() == names
    lines = (root / 'meta' / 'val.txt').read_text().splitlines()
    assert lines[0] == 'class_00_stripes/0000.png 0' and len(lines) == 8
    for line in lines:
        rel, label = line.split()
        img = np.asarray(Image.open(root / 'val' / rel))
        mask = np.asarray(Image.open(root / 'masks' / 'val' / rel)) > 127
        assert img.shape == (128, 128, 3) and mask.shape == (128, 128)
        # the object covers a large part of the image (28-45 % asked;
        # thin outlines are shrunk to fit)
        assert 0.15 < mask.mean() < 0.5, rel
        assert names[int(label)] == rel.split('/')[0]
    manifest = json.loads((tmp_path / 'a' / 'demo_data.json').read_text())
    assert manifest['tasks']['cls']['params']['style'] == 'texture'
    # the same parameters give the same bytes, written by any number of
    # processes; shape style is a different set
    dd.make_demo_data(str(tmp_path / 'b'), **kwargs, workers=2)
    assert (tmp_path / 'b' / 'cls' / 'meta' / 'val.txt').read_text() == \
        (root / 'meta' / 'val.txt').read_text()
    for png in [*(root / 'train').rglob('*.png'),
                *(root / 'masks').rglob('*.png')]:
        other = tmp_path / 'b' / 'cls' / png.relative_to(root)
        assert png.read_bytes() == other.read_bytes()
    dd.make_demo_data(str(tmp_path / 'c'), **dict(kwargs,
                                                  cls_style='shape'))
    assert 'style' not in json.loads(
        (tmp_path / 'c' / 'demo_data.json').read_text())['tasks']['cls'][
            'params']


def test_texture_patterns_differ_between_classes():
    """Inside the object the pattern's local statistics tell the classes
    apart (so a 16x16 token can be classified on its own)."""
    fill = {}
    for label, kind in enumerate(dd.TEXTURES):
        img, mask = dd._texture_sample(0, 'train', label, 0, 128, kind)
        assert mask.any()
        fill[kind] = img[mask > 0].std(axis=0).mean()
    # every pattern has contrast inside the object
    assert all(v > 20 for v in fill.values()), fill


def test_texture_set_refuses_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="2 to 4 classes"):
        dd.make_demo_data(str(tmp_path), num_classes=5, cls_style='texture',
                          log=None)
    with pytest.raises(ValueError, match='cls_style must be one of'):
        dd.make_demo_data(str(tmp_path), cls_style='colour', log=None)
    with pytest.raises(ValueError, match='workers must be a positive'):
        dd.make_demo_data(str(tmp_path), workers=0, log=None)


def test_texture_period_is_coarse_enough_for_the_stem():
    """The stripes repeat every 8-14 px: one to two periods per 16x16 token,
    above what the stride-2 stem convolutions alias away."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        t = dd._pattern(rng, 'stripes', 128, 128)[..., 0]
        spectrum = np.abs(np.fft.fft2(t - t.mean()))
        fy, fx = np.unravel_index(spectrum.argmax(), spectrum.shape)
        fy, fx = min(fy, 128 - fy), min(fx, 128 - fx)
        period = 128 / np.hypot(fx, fy)
        assert 7.5 <= period <= 15, period
