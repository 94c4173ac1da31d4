"""Online (STL teacher on every crop) vs offline (the teacher's maps dumped
once, ROI-aligned onto the crop) token labels on the demo images, with
spatial-only augmentation and argmax labels (no Gumbel noise).

- Whole-image crops with every class stored: the offline targets equal the
  softmax of the online teacher's token logits (float16 storage aside), so
  the labels agree everywhere.
- Flips: the offline labels of a mirrored image are exactly the mirrored
  map; the online teacher sees the mirrored image, so the two agree only as
  far as the teacher is mirror-symmetric (inherent to offline maps).
- Random resized crops: the offline label of a token is the ROI-aligned
  (bilinearly interpolated) full-image prediction, the online one the
  teacher's prediction on the resampled crop.
The measured agreements are printed (pytest -s).
"""
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from stl_mm.testing import REPO
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


def _labels(teacher, maps, demo_root, crop, flip_prob=0.):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='stl_mm.LoadTokenLabelMap', map_root=str(maps),
             num_classes=4),
        crop,
        dict(type='stl_mm.RandomFlipWithCoords', prob=flip_prob),
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


WHOLE = dict(type='stl_mm.RandomResizedCropWithCoords', scale=64,
             crop_ratio_range=(1., 1.), aspect_ratio_range=(1., 1.),
             backend='pillow', interpolation='bicubic')


def _agreement(online, offline):
    return (online.argmax(-1) == offline.argmax(-1)).float().mean().item()


def test_whole_image_crops_give_the_online_labels(teacher_and_maps,
                                                  demo_root):
    teacher, maps = teacher_and_maps
    online, offline, logits = _labels(teacher, maps, demo_root, WHOLE)
    assert torch.equal(online.argmax(-1), offline.argmax(-1))
    assert torch.allclose(offline, logits.softmax(-1), atol=2e-3)


def test_flips_mirror_the_map(teacher_and_maps, demo_root):
    teacher, maps = teacher_and_maps
    _, plain, _ = _labels(teacher, maps, demo_root, WHOLE)
    online, flipped, _ = _labels(teacher, maps, demo_root, WHOLE, 1.)
    mirrored = plain.reshape(-1, 4, 4, 4).flip(2).reshape(plain.shape)
    assert torch.allclose(flipped, mirrored, atol=1e-6)
    print(f'\nonline/offline agreement on mirrored whole images: '
          f'{_agreement(online, flipped):.3f}')


def test_random_crops(teacher_and_maps, demo_root):
    teacher, maps = teacher_and_maps
    np.random.seed(0)
    crop = dict(type='stl_mm.RandomResizedCropWithCoords', scale=64,
                crop_ratio_range=(0.35, 1.), backend='pillow',
                interpolation='bicubic')
    online, offline, _ = _labels(teacher, maps, demo_root, crop, 0.5)
    agreement = _agreement(online, offline)
    print(f'\nonline/offline agreement on random crops + flips: '
          f'{agreement:.3f}')
    assert agreement > 0.25  # above chance (4 classes)
