"""Online (STL teacher on every crop) vs offline (the teacher's maps dumped
once, ROI-aligned onto the crop) token labels on the demo images, with
spatial-only augmentation and argmax labels (no Gumbel noise).

- Whole-image crops (flipped or not) with every class stored: the offline
  targets equal the softmax of the online teacher's token logits (float16
  storage aside), so the labels agree everywhere.
- Random resized crops: the offline label of a token is the ROI-aligned
  (bilinearly interpolated) full-image prediction, the online one the
  teacher's prediction on the resampled crop; they agree on most tokens.
  The measured agreement is printed (pytest -s).
"""
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from conftest import REPO
from stl_mm.apis import init_model
from stl_mm.apis.token_label_dump import dump_token_labels
from stl_mm.models.utils.label_maps import crop_token_targets
from stl_mm.models.utils.token_labels import generate_token_labels

TEACHER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'


@pytest.fixture(scope='module')
def teacher_and_maps(demo_root, tmp_path_factory):
    torch.manual_seed(0)
    teacher = init_model(str(TEACHER))
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, path)
    maps = tmp_path_factory.mktemp('maps')
    dump_token_labels(str(TEACHER), str(path), str(demo_root / 'cls/train'),
                      str(maps), topk=5, img_size=64, progress=False)
    return teacher, maps


def _labels(teacher, maps, demo_root, crop):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='stl_mm.LoadTokenLabelMap', map_root=str(maps),
             num_classes=4),
        crop,
        dict(type='stl_mm.RandomFlipWithCoords', prob=0.5),
        dict(type='PackInputs',
             algorithm_keys=['token_label_map', 'token_label_coords']),
    ]
    images = sorted((demo_root / 'cls/train').rglob('*.png'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(pipeline)
    batch = pseudo_collate([pipeline(dict(img_path=str(p)))
                            for p in images])
    data = teacher.data_preprocessor(batch, False)
    with torch.no_grad():
        _, logits = teacher(data['inputs'], mode='tensor')
    online = generate_token_labels(logits, method='argmax', smoothing=0.)
    samples = data['data_samples']
    maps = torch.stack([s.token_label_map for s in samples])
    coords = torch.stack([torch.as_tensor(s.token_label_coords)
                          for s in samples])
    _, offline = crop_token_targets(maps, coords, (4, 4), 4, smoothing=0.)
    return online, offline, logits


def test_whole_image_crops_give_the_online_labels(teacher_and_maps,
                                                  demo_root):
    teacher, maps = teacher_and_maps
    np.random.seed(0)
    crop = dict(type='stl_mm.RandomResizedCropWithCoords', scale=64,
                crop_ratio_range=(1., 1.), aspect_ratio_range=(1., 1.),
                backend='pillow', interpolation='bicubic')
    online, offline, logits = _labels(teacher, maps, demo_root, crop)
    assert torch.equal(online.argmax(-1), offline.argmax(-1))
    assert torch.allclose(offline, logits.softmax(-1), atol=2e-3)


def test_random_crops_mostly_agree(teacher_and_maps, demo_root):
    teacher, maps = teacher_and_maps
    np.random.seed(0)
    crop = dict(type='stl_mm.RandomResizedCropWithCoords', scale=64,
                crop_ratio_range=(0.35, 1.), backend='pillow',
                interpolation='bicubic')
    online, offline, _ = _labels(teacher, maps, demo_root, crop)
    agreement = (online.argmax(-1) == offline.argmax(-1)).float().mean()
    print(f'\nonline/offline token-label agreement on random crops: '
          f'{agreement:.3f}')
    assert agreement > 0.5
