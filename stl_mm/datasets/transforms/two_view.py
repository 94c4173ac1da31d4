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

Both wrappers reuse mmcv's ``TransformBroadcaster`` with
``share_random_params=True``: the random methods of the wrapped transforms
(those decorated with ``cache_randomness``) run once and their results are
replayed for the teacher view.
"""
from typing import Dict, List, Sequence, Union

from mmcv.transforms import BaseTransform, TransformBroadcaster
from mmpretrain.datasets.transforms import RandAugment

from stl_mm.registry import TRANSFORMS

__all__ = ['AddTeacherView', 'TwoViewSpatial', 'TwoViewRandAugment',
           'SPATIAL_RANDAUG_OPS']

# mmpretrain's geometric RandAugment ops (Shear / Translate cover the X and Y
# variants through their ``direction``); every other op is photometric.
SPATIAL_RANDAUG_OPS = ('Rotate', 'Shear', 'Translate')


def _dedupe_random_methods(transform) -> None:
    """Work around an mmcv ``cache_randomness`` bug, in place.

    ``cache_randomness.__set_name__`` appends the method name to the
    ``_methods_with_randomness`` list it finds on the class, and that list
    may be the *parent's* (inherited) one: a subclass that re-decorates the
    method appends it again. mmpretrain's ``RandomResizedCrop`` thus lists
    ``rand_crop_params`` twice, ``cache_random_params`` wraps the method
    twice with its invocation counter, and every shared-parameter call fails
    with "... has been invoked 2 times". Giving each wrapped instance its
    own de-duplicated list (an instance attribute shadows the class one;
    caching itself is keyed by method name) restores the intended
    behaviour without touching the classes.
    """
    names = getattr(transform, '_methods_with_randomness', None)
    if names is not None:
        transform._methods_with_randomness = list(dict.fromkeys(names))
    children = getattr(transform, 'transforms', None)
    if children is not None and hasattr(children, "__iter__"):
        for child in children:
            if child is not transform:
                _dedupe_random_methods(child)


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
        _dedupe_random_methods(self.transforms)

    def transform(self, results: Dict) -> Dict:
        if self.teacher_key not in results:
            raise KeyError(
                f'{self.__class__.__name__}: no {self.teacher_key!r} in the '
                'results; put AddTeacherView before it in the pipeline.')
        return super().transform(results)


@TRANSFORMS.register_module()
class TwoViewRandAugment(RandAugment):
    """mmpretrain ``RandAugment`` whose geometric ops also hit the teacher.

    The ops are chosen once per sample (the parent's random choice); every
    chosen op runs on the student image in the usual order, and the
    geometric ones (``spatial_ops``) additionally run on the teacher view
    with the same random decisions (apply or not, magnitude, sign) through
    a shared-parameter ``TransformBroadcaster``. Photometric ops never touch
    the teacher view.

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
        super().__init__(*args, **kwargs)
        self.teacher_key = teacher_key
        self.spatial_ops = tuple(spatial_ops)
        self._shared = {}
        for index, (policy, op) in enumerate(
                zip(self.policies, self.transforms)):
            if str(policy['type']).split('.')[-1] in self.spatial_ops:
                broadcaster = TransformBroadcaster(
                    transforms=[op],
                    mapping={'img': ['img', teacher_key]},
                    auto_remap=True,
                    share_random_params=True)
                _dedupe_random_methods(broadcaster.transforms)
                self._shared[index] = broadcaster

    def transform(self, results: Dict) -> Dict:
        if self.teacher_key not in results:
            raise KeyError(
                f'{self.__class__.__name__}: no {self.teacher_key!r} in the '
                'results; put AddTeacherView before it in the pipeline.')
        for index in self.random_policy_indices():
            op = self._shared.get(index, self.transforms[index])
            results = op(results)
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f'teacher_key={self.teacher_key!r}, '
                f'spatial_ops={self.spatial_ops})')
