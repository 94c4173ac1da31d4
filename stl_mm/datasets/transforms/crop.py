"""Random-resized crop with a random interpolation per image.

The official FAN/STL training transform (timm 0.5
``RandomResizedCropAndInterpolation`` with ``--train-interpolation random``,
the default of their ``main.py``) resizes every crop with bilinear or
bicubic interpolation, chosen uniformly per image. mmpretrain's
``RandomResizedCrop`` takes one interpolation; this subclass takes a list
(or ``'random'`` = ``('bilinear', 'bicubic')``) and draws one per image.
The crop itself is mmpretrain's (the same area / aspect-ratio sampling as
timm). The draw is a ``cache_randomness`` method, so ``TwoViewSpatial``
replays the same interpolation for the STL teacher view, as upstream does.
"""
from typing import Sequence, Union

import mmcv
import numpy as np
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import RandomResizedCrop

from stl_mm.registry import TRANSFORMS

__all__ = ['RandomResizedCropAndInterpolation', 'RANDOM_INTERPOLATION']

#: what timm's ``'random'`` interpolation chooses from
RANDOM_INTERPOLATION = ('bilinear', 'bicubic')


@TRANSFORMS.register_module()
class RandomResizedCropAndInterpolation(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` with a random interpolation.

    Args:
        interpolation (str | Sequence[str]): ``'random'`` (default: bilinear
            or bicubic, uniformly per image), one interpolation name, or a
            sequence of names to choose from uniformly (numpy's RNG, like
            the crop parameters).
        Other arguments: as :class:`mmpretrain.datasets.RandomResizedCrop`
        (``backend='pillow'`` matches timm, which resizes PIL images).
    """

    # an own list: cache_randomness appends the decorated method names to
    # the list it finds on the class, which would otherwise be the parent's
    _methods_with_randomness = ['rand_crop_params']

    def __init__(self, scale, *args,
                 interpolation: Union[str, Sequence[str]] = 'random',
                 **kwargs):
        if interpolation == 'random':
            choices = RANDOM_INTERPOLATION
        elif isinstance(interpolation, str):
            choices = (interpolation, )
        else:
            choices = tuple(interpolation)
        if not choices:
            raise ValueError('interpolation: give at least one name')
        super().__init__(scale, *args, interpolation=choices[0], **kwargs)
        for name in choices:  # the parent checks only the first
            if name not in ('nearest', 'bilinear', 'bicubic', 'area',
                            'lanczos'):
                raise ValueError(f'Unknown interpolation {name!r}')
        self.interpolations = choices

    @cache_randomness
    def rand_interpolation(self) -> str:
        """The interpolation of this image."""
        if len(self.interpolations) == 1:
            return self.interpolations[0]
        return self.interpolations[np.random.randint(len(self.interpolations))]

    def transform(self, results: dict) -> dict:
        img = results['img']
        offset_h, offset_w, target_h, target_w = self.rand_crop_params(img)
        interpolation = self.rand_interpolation()
        img = mmcv.imcrop(
            img,
            bboxes=np.array([
                offset_w, offset_h, offset_w + target_w - 1,
                offset_h + target_h - 1
            ]))
        results['img'] = mmcv.imresize(
            img, tuple(self.scale[::-1]), interpolation=interpolation,
            backend=self.backend)
        results['img_shape'] = results['img'].shape
        return results

    def __repr__(self) -> str:
        return super().__repr__().replace(
            f'interpolation={self.interpolation}',
            f'interpolation={self.interpolations}')
