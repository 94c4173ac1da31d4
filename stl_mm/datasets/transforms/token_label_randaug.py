"""RandAugment on the image and its offline token-label map (Token Labeling).

Upstream TokenLabeling (``tlt/data/label_transforms_factory.py``,
``transforms_imagenet_train``) augments a training image and its label map
in this order: horizontal flip (image and map), RandAugment on the **whole**
image (its Rotate / ShearX / ShearY / TranslateXRel / TranslateYRel also
warp the whole map, ``tlt/data/random_augment_label.py``), and the random
resized crop last, which only records its box for the ROI-align of the map
onto the token grid. :class:`RandAugmentWithLabelMap` is that RandAugment:
mmpretrain's ops on the image; after each geometric op that fired, the map
``[2, k, H, W]`` is warped with the op's own random draws (replayed by
:class:`~stl_mm.datasets.transforms.randaug_replay.ReplayRandAugment`) as
upstream warps it:

- on the stored map grid, in map cells: the angle and the shear factor are
  the image's, the translation the same fraction of the map's side; the
  rotation centre is cell ``(H / 2, W / 2)`` (upstream ``rotate_label``);
- nearest neighbour (``scipy.ndimage.affine_transform``, ``order=0``),
  outside the map: score 0, class index of the nearest border cell
  (``affine_label``: ``mode='constant'`` / ``mode='nearest'``). A token of
  the filled border therefore gets the uniform distribution after the
  softmax of the targets (its top-k scores are all 0).

A train pipeline reads (upstream order)::

    LoadImageFromFile
    LoadTokenLabelMap(map_root=..., num_classes=K)
    RandomFlipWithCoords(prob=0.5)
    RandAugmentWithLabelMap(policies='timm_increasing', ...)
    RandomResizedCropWithCoords(scale=224)
    RandomErasing / PackInputs(algorithm_keys=[...map, ...coords])

A flip recorded before the op is applied to the map first (the map of the
flipped image is the mirrored map); a crop recorded before it cannot be
warped and is refused with one line.
"""
import math
from typing import Dict, Tuple

import numpy as np
import torch

from stl_mm.registry import TRANSFORMS
from .randaug_replay import (SPATIAL_RANDAUG_OPS, ReplayRandAugment,
                             realized_geometry)
from .token_label_map import COORDS_KEY, MAP_KEY

__all__ = ['RandAugmentWithLabelMap', 'label_map_matrix', 'warp_label_map']


def label_map_matrix(name: str, arg: float,
                     map_size: Tuple[int, int]) -> Tuple[float, ...]:
    """Upstream's label warp of one op as ``(a, b, c, d, e, f)``.

    Output cell ``(r, c)`` of the ``map_size = (H, W)`` map reads input
    cell ``(a r + b c + c0, d r + e c + f)`` (rows first), for timm's op
    ``name`` with argument ``arg`` (see
    :func:`~stl_mm.datasets.transforms.randaug_replay.realized_geometry`).
    """
    H, W = map_size
    if name == 'ShearX':
        return (1., 0., 0., arg, 1., 0.)
    if name == 'ShearY':
        return (1., arg, 0., 0., 1., 0.)
    if name == 'TranslateXRel':
        return (1., 0., 0., 0., 1., arg * W)
    if name == 'TranslateYRel':
        return (1., 0., arg * H, 0., 1., 0.)
    if name == 'Rotate':
        angle = math.radians(arg)
        cos, sin = round(math.cos(angle), 15), round(math.sin(angle), 15)
        cr, cc = H / 2.0, W / 2.0  # upstream: cell (H/2, W/2), not (H-1)/2
        return (cos, sin, cr - cos * cr - sin * cc,
                -sin, cos, cc + sin * cr - cos * cc)
    raise ValueError(f'No label-map warp for RandAugment op {name!r}.')


def warp_label_map(label_map: torch.Tensor,
                   matrix: Tuple[float, ...]) -> torch.Tensor:
    """Warp a ``[2, k, H, W]`` map (scores, class indices) by ``matrix``
    (see :func:`label_map_matrix`): nearest neighbour; outside the map the
    score is 0 and the index that of the nearest border cell. Same shape
    and dtype."""
    from scipy import ndimage  # what upstream uses, same sampling
    a, b, c, d, e, f = matrix
    affine = np.array([[1., 0., 0., 0.], [0., a, b, c], [0., d, e, f]])
    planes = label_map.detach().cpu().float().numpy()
    scores = ndimage.affine_transform(planes[0], affine, order=0,
                                      mode='constant', cval=0.)
    index = ndimage.affine_transform(planes[1], affine, order=0,
                                     mode='nearest')
    return torch.from_numpy(np.stack([scores, index])).to(label_map.dtype)


def _apply_recorded_flips(label_map: torch.Tensor,
                          coords: np.ndarray) -> Tuple[torch.Tensor,
                                                       np.ndarray]:
    """Mirror the map as the record says and clear the flags (full-image
    record only, where the two are the same thing)."""
    coords = coords.copy()
    if coords[4]:
        label_map = label_map.flip(-1)
        coords[4] = 0.
    if coords[5]:
        label_map = label_map.flip(-2)
        coords[5] = 0.
    return label_map, coords


@TRANSFORMS.register_module()
class RandAugmentWithLabelMap(ReplayRandAugment):
    """mmpretrain ``RandAugment`` that warps the token-label map too.

    Every chosen op runs on ``img`` as in mmpretrain; each geometric one
    that fires (``spatial_ops``: Rotate, Shear, Translate) also warps
    ``token_label_map`` with the same angle / factor / offset, as upstream
    TokenLabeling does (see the module docstring). Photometric ops leave the
    map alone. Results without a map are augmented like plain
    ``RandAugment``.

    Place it before ``RandomResizedCropWithCoords`` (upstream order: flip,
    RandAugment, crop): the map covers the whole image, and a crop recorded
    before it is refused.

    Args:
        warp_label_map (bool): ``True`` (upstream): geometric ops warp the
            map. ``False``: the geometric policies are dropped and only the
            photometric ones are drawn from.
        spatial_ops: op type names treated as geometric.
        Other arguments: as :class:`mmpretrain.datasets.RandAugment`
            (``policies='timm_increasing'`` = upstream's
            ``rand-...-inc1`` op list).
    """

    def __init__(self, policies, *args, warp_label_map: bool = True,
                 spatial_ops=SPATIAL_RANDAUG_OPS, **kwargs):
        if not warp_label_map:
            from mmpretrain.datasets.transforms.auto_augment import \
                RANDAUG_POLICIES
            if isinstance(policies, str):
                policies = RANDAUG_POLICIES[policies]
            policies = [p for p in policies
                        if str(p['type']).split('.')[-1] not in spatial_ops]
            if not policies:
                raise ValueError('warp_label_map=False leaves no '
                                 'photometric policy to choose from.')
        super().__init__(policies, *args, spatial_ops=spatial_ops, **kwargs)
        self.warp_label_map = warp_label_map

    def check(self, results: Dict) -> None:
        if not self.spatial_indices or MAP_KEY not in results:
            return
        coords = results.get(COORDS_KEY)
        if coords is not None and not np.allclose(coords[:4],
                                                  (0., 0., 1., 1.)):
            raise ValueError(
                f'{self.__class__.__name__} warps the label map of the '
                'whole image, but a crop is already recorded '
                f'({COORDS_KEY}={np.round(coords[:4], 3).tolist()}): put it '
                'before RandomResizedCropWithCoords (upstream order: flip, '
                'RandAugment, crop).')

    def replay(self, op, results: Dict) -> Dict:
        geometry = realized_geometry(op)
        if geometry is None or MAP_KEY not in results:
            return results
        label_map = results[MAP_KEY]
        if COORDS_KEY in results:
            label_map, results[COORDS_KEY] = _apply_recorded_flips(
                label_map, results[COORDS_KEY])
        results[MAP_KEY] = warp_label_map(
            label_map, label_map_matrix(*geometry, label_map.shape[-2:]))
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', warp_label_map={self.warp_label_map})')
