"""Random erasing of the mixed, normalised batch (timm's prefetcher order,
--remode pixel) in the data preprocessor."""
import random

import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from stl_mm.models.utils import BatchRandomErasing
from stl_mm.registry import MODELS
from stl_mm.utils import register_all_modules

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.fixture(autouse=True, scope='module')
def _scope():
    # no default scope: this file runs before others that build by
    # un-prefixed stl_mm names
    register_all_modules(init_default_scope=False)


def test_one_box_per_erased_image_filled_with_unclipped_noise():
    erase = BatchRandomErasing(prob=1.0, mode='pixel')
    x = torch.full((16, 3, 64, 48), 5.)  # a value noise never takes
    random.seed(0)
    torch.manual_seed(0)
    out = erase(x)
    assert torch.equal(x, torch.full_like(x, 5.))  # input untouched
    changed = out != 5.
    for i in range(16):
        rows = changed[i].any(0).any(1).nonzero().flatten()
        cols = changed[i].any(0).any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert 0 < h < 64 and 0 < w < 48
        # one rectangle, all channels
        assert int(changed[i].sum()) == 3 * h * w
        area = h * w / (64 * 48)
        assert 0.01 < area < 0.4
    noise = out[changed]
    assert abs(float(noise.mean())) < 0.1 and abs(float(noise.std()) - 1) < .1
    assert float(noise.abs().max()) > 2.5  # N(0, 1), not clipped


def test_probability_and_modes():
    x = torch.zeros(200, 1, 32, 32)
    random.seed(1)
    erased = (BatchRandomErasing(prob=0.3, mode='rand')(x) != 0).flatten(
        1).any(1).float().mean()
    assert 0.2 < float(erased) < 0.4
    assert BatchRandomErasing(prob=0.)(x) is x
    const = BatchRandomErasing(prob=1., mode='const')(torch.ones(2, 3, 32,
                                                                 32))
    assert float((const == 0).sum()) > 0
    with pytest.raises(ValueError, match='mode'):
        BatchRandomErasing(mode='pix')


def _data(B=4, H=32, W=32):
    g = torch.Generator().manual_seed(0)
    samples = []
    for i in range(B):
        s = DataSample().set_gt_label(i)
        s.set_field(torch.randint(0, 256, (3, H, W), generator=g,
                                  dtype=torch.uint8), 'teacher_img')
        samples.append(s)
    inputs = torch.randint(0, 256, (B, 3, H, W), generator=g,
                           dtype=torch.uint8)
    return dict(inputs=inputs, data_samples=samples)


def test_preprocessor_erases_after_mixing_and_spares_the_teacher_view():
    common = dict(type='stl_mm.STLDataPreprocessor', mean=MEAN, std=STD,
                  to_rgb=True, num_classes=5,
                  mix=dict(mixup_alpha=0.8, cutmix_alpha=0.,
                           mix_token_labels=False))
    plain = MODELS.build(common)
    erasing = MODELS.build(dict(common, erase=dict(prob=1.0)))
    np.random.seed(3)
    random.seed(3)
    torch.manual_seed(3)
    ref = plain(_data(), training=True)
    np.random.seed(3)
    random.seed(3)
    torch.manual_seed(3)
    out = erasing(_data(), training=True)
    torch.testing.assert_close(out['teacher_inputs'], ref['teacher_inputs'])
    diff = out['inputs'] != ref['inputs']
    assert diff.flatten(1).any(1).all()  # every image erased ...
    # ... and outside its box the mixed image is unchanged: the erasing
    # came after the mixing (erasing first would have been blended)
    assert torch.equal(out['inputs'][~diff], ref['inputs'][~diff])
    # validation: no erasing
    np.random.seed(3)
    val = erasing(dict(inputs=_data()['inputs'],
                       data_samples=[DataSample() for _ in range(4)]))
    assert 'teacher_inputs' not in val
    torch.testing.assert_close(val['inputs'], plain(dict(
        inputs=_data()['inputs'],
        data_samples=[DataSample() for _ in range(4)]))['inputs'])
