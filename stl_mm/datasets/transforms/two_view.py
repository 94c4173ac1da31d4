"""A second, "clean" view of every training image for the STL teacher.

The teacher view gets exactly the student's spatial augmentation (random
resized crop, flip, and the geometric RandAugment ops Rotate / Shear /
Translate with identical random choices and magnitudes) and none of the
photometric ones, nor random erasing. A training pipeline reads::

    LoadImageFromFile
    AddTeacherView                      # teacher_img = copy of img
    TwoViewSpatial(transforms=[RandomResizedCrop, RandomFlip])
    TwoViewRandAugment(...)             # geometric ops on both, colour on img
    RandomErasing                       # img only (plain mmpretrain)
    PackInputs(algorithm_keys=['teacher_img'])

``STLDataPreprocessor`` then normalises both views identically.

Both replay mmcv's cached randomness: ``TwoViewSpatial`` is a
``TransformBroadcaster`` with ``share_random_params=True``;
``TwoViewRandAugment`` is a ``ReplayRandAugment`` (the mechanism shared with
``RandAugmentWithLabelMap``). The random methods of the wrapped transforms
(those decorated with ``cache_randomness``) run once and their results are
replayed for the teacher view.
"""
from typing import Dict, List, Sequence, Union

from mmcv.transforms import BaseTransform, TransformBroadcaster

from stl_mm.registry import TRANSFORMS
from .randaug_replay import (SPATIAL_RANDAUG_OPS, ReplayRandAugment,
                             dedupe_random_methods)

__all__ = ['AddTeacherView', 'TwoViewSpatial', 'TwoViewRandAugment',
           'SPATIAL_RANDAUG_OPS']


@TRANSFORMS.register_module()
class AddTeacherView(BaseTransform):
    """Copy ``results[key]`` into ``results[teacher_key]``.

    Place it right after loading, before any augmentation.
    """

    def __init__(self, key: str = 'img', teacher_key: str = 'teacher_img'):
        self.key = key
        self.teacher_key = teacher_key

    def transform(self, results: Dict) -> Dict:
        results[self.teacher_key] = results[self.key].copy()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(key={self.key!r}, '
                f'teacher_key={self.teacher_key!r})')


@TRANSFORMS.register_module()
class TwoViewSpatial(TransformBroadcaster):
    """Apply spatial transforms with shared random parameters to both views.

    A ``TransformBroadcaster`` with ``share_random_params=True`` over
    ``{key: [key, teacher_key]}``. Metadata the wrapped transforms write
    (``meta_keys``, e.g. ``img_shape``, ``flip``) is taken from the student
    view only.

    Args:
        transforms: spatial transforms (configs or objects), e.g.
            ``RandomResizedCrop`` and ``RandomFlip``. Only transforms whose
            randomness lives in ``cache_randomness`` methods are replayed
            faithfully (true for the mmcv/mmpretrain ones named here).
        key / teacher_key: the student and teacher image fields.
        meta_keys: fields updated from the student view.
    """

    def __init__(self,
                 transforms: List[Union[dict, BaseTransform]],
                 key: str = 'img',
                 teacher_key: str = 'teacher_img',
                 meta_keys: Sequence[str] = ('img_shape', 'scale_factor',
                                             'flip', 'flip_direction')):
        mapping = {key: [key, teacher_key]}
        for meta_key in meta_keys:
            mapping[meta_key] = [meta_key, ...]
        super().__init__(
            transforms=transforms,
            mapping=mapping,
            auto_remap=True,
            allow_nonexist_keys=True,
            share_random_params=True)
        self.key = key
        self.teacher_key = teacher_key
        dedupe_random_methods(self.transforms)

    def transform(self, results: Dict) -> Dict:
        if self.teacher_key not in results:
            raise KeyError(
                f'{self.__class__.__name__}: no {self.teacher_key!r} in the '
                'results; put AddTeacherView before it in the pipeline.')
        return super().transform(results)


@TRANSFORMS.register_module()
class TwoViewRandAugment(ReplayRandAugment):
    """mmpretrain ``RandAugment`` whose geometric ops also hit the teacher.

    The ops are chosen once per sample (the parent's random choice); every
    chosen op runs on the student image in the usual order, and the
    geometric ones (``spatial_ops``) run once more on the teacher view with
    the same random decisions (apply or not, magnitude, sign), replayed by
    :class:`~stl_mm.datasets.transforms.randaug_replay.ReplayRandAugment`.
    Photometric ops never touch the teacher view.

    Args:
        teacher_key: the teacher image field.
        spatial_ops: op type names treated as geometric.
        Other arguments: as :class:`mmpretrain.datasets.RandAugment`.
    """

    def __init__(self,
                 *args,
                 teacher_key: str = 'teacher_img',
                 spatial_ops: Sequence[str] = SPATIAL_RANDAUG_OPS,
                 **kwargs):
        super().__init__(*args, spatial_ops=spatial_ops, **kwargs)
        self.teacher_key = teacher_key

    def check(self, results: Dict) -> None:
        if self.teacher_key not in results:
            raise KeyError(
                f'{self.__class__.__name__}: no {self.teacher_key!r} in the '
                'results; put AddTeacherView before it in the pipeline.')

    def replay(self, op, results: Dict) -> Dict:
        view = op(dict(img=results[self.teacher_key]))
        results[self.teacher_key] = view['img']
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', teacher_key={self.teacher_key!r})')
