"""Offline token-label maps in the data pipeline.

- :class:`LoadTokenLabelMap` reads the label map of an image (TokenLabeling
  format ``[2, k, H, W]``: top-k scores, then class indices, one ``.pt`` file
  per image in a folder tree mirroring the images) with the safe loader,
  checks it, and starts its crop record ``token_label_coords =
  [x1, y1, x2, y2, hflip, vflip] = [0, 0, 1, 1, 0, 0]`` (the part of the
  full image the current image shows, as fractions, and whether it is
  mirrored).
- :class:`RandomResizedCropWithCoords` / :class:`RandomFlipWithCoords` are
  mmpretrain's ``RandomResizedCrop`` (with timm's random interpolation, as
  :class:`~stl_mm.datasets.transforms.crop.RandomResizedCropAndInterpolation`)
  and mmcv's ``RandomFlip`` that also update that record (upstream
  ``RandomResizedCropAndInterpolationWithCoords`` and
  ``RandomHorizontalFlipWithLabel``), in any order. The label map itself
  is never resampled here: the model ROI-aligns it onto the crop's token
  grid in one batched call (:mod:`stl_mm.models.utils.label_maps`).

The geometric RandAugment ops warp the map itself
(:class:`~stl_mm.datasets.transforms.token_label_randaug.RandAugmentWithLabelMap`,
before the crop, as upstream); any other geometric transform between
loading the map and packing would desynchronise image and map. A train
pipeline reads (upstream order)::

    LoadImageFromFile
    LoadTokenLabelMap(map_root=..., num_classes=K)
    RandomFlipWithCoords(prob=0.5)
    RandAugmentWithLabelMap(policies='timm_increasing', ...)
    RandomResizedCropWithCoords(scale=224, interpolation='random')
    RandomErasing
    PackInputs(algorithm_keys=['token_label_map', 'token_label_coords'])
"""
import os.path as osp
from typing import Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms import RandomFlip

from stl_mm.registry import TRANSFORMS
from .crop import RandomResizedCropAndInterpolation

__all__ = ['LoadTokenLabelMap', 'RandomResizedCropWithCoords',
           'RandomFlipWithCoords', 'label_map_path', 'check_label_map',
           'MAP_SUFFIX', 'TokenLabelMapError', 'MissingTokenLabelMap']

MAP_SUFFIX = '.pt'
MAP_KEY = 'token_label_map'
COORDS_KEY = 'token_label_coords'


class TokenLabelMapError(ValueError):
    """A label map that does not fit (tools print its message alone)."""
    user_facing = True


class MissingTokenLabelMap(FileNotFoundError):
    """An image without a label map (tools print its message alone)."""
    user_facing = True


def label_map_path(img_path: str, map_root: str,
                   img_root: Optional[str] = None) -> str:
    """Where the map of ``img_path`` lives: its path relative to
    ``img_root`` (or, without it, its last two components: ``class/file``,
    the upstream convention) under ``map_root``, suffix ``.pt``."""
    if img_root is not None:
        rel = osp.relpath(img_path, img_root)
        if rel.startswith('..'):
            raise ValueError(f'Image {img_path} is not inside img_root '
                             f'{img_root}.')
    else:
        parts = osp.normpath(img_path).split(osp.sep)
        rel = osp.join(*parts[-2:])
    return osp.join(map_root, osp.splitext(rel)[0] + MAP_SUFFIX)


def check_label_map(value, name: str, num_classes: Optional[int] = None,
                    map_size: Optional[Sequence[int]] = None,
                    topk: Optional[int] = None) -> torch.Tensor:
    """Validate a loaded map; returns it as a ``[2, k, H, W]`` tensor.

    Raises :class:`TokenLabelMapError` naming ``name`` (the image) on a
    wrong type, layout, grid (``map_size``), top-k (fewer than ``topk``) or
    class indices outside ``[0, num_classes)``.
    """
    what = f'The label map of {name}'
    if not torch.is_tensor(value):
        raise TokenLabelMapError(
            f'{what} holds a {type(value).__name__}, not a [2, k, H, W] '
            'tensor.')
    if value.dim() != 4 or value.shape[0] != 2:
        raise TokenLabelMapError(
            f'{what} has shape {list(value.shape)}; expected [2, k, H, W] '
            '(top-k scores, then class indices).')
    _, k, H, W = value.shape
    if map_size is not None and (H, W) != tuple(map_size):
        raise TokenLabelMapError(
            f'{what} has a {H}x{W} grid, expected {map_size[0]}x'
            f'{map_size[1]} (map_size): was it dumped with another '
            '--img-size or model?')
    if topk is not None and k < topk:
        raise TokenLabelMapError(
            f'{what} has top-{k} scores, {topk} were asked for.')
    index = value[1].float()
    if num_classes is not None:
        bad = (index < 0) | (index >= num_classes) | (index != index.round())
        if bool(bad.any()):
            raise TokenLabelMapError(
                f'The label map of {name} has class indices outside '
                f'[0, {num_classes}) (max {index.max().item():.0f}): it was '
                'made for another class count; dump maps with a teacher of '
                f'{num_classes} classes.')
    return value


@TRANSFORMS.register_module()
class LoadTokenLabelMap(BaseTransform):
    """Load the label map of ``results['img_path']``.

    Adds ``token_label_map`` (``[2, k, H, W]`` tensor, float16 as stored or
    float32) and ``token_label_coords`` (float32 ``(6,)``, the full image).

    Args:
        map_root (str): root of the label-map tree.
        img_root (str, optional): root the image paths are relative to in
            that tree (the dump tool's DATA_ROOT); default: the last two
            path components (``class/file``), as upstream.
        num_classes (int, optional): reject maps whose indices are not
            below it.
        map_size (tuple, optional): reject maps of another ``(H, W)``.
        topk (int, optional): keep only the first ``topk`` scores (maps
            are stored in descending order); reject maps with fewer.
        trusted (bool): load with full pickle (only for map files you
            trust); default the safe loader (tensors only).
    """

    def __init__(self, map_root: str, img_root: Optional[str] = None,
                 num_classes: Optional[int] = None,
                 map_size: Optional[Sequence[int]] = None,
                 topk: Optional[int] = None, trusted: bool = False):
        self.map_root = map_root
        self.img_root = img_root
        self.num_classes = num_classes
        self.map_size = tuple(map_size) if map_size is not None else None
        self.topk = topk
        self.trusted = trusted

    def transform(self, results: dict) -> dict:
        from stl_mm.utils.checkpoint import safe_load
        img_path = results.get('img_path')
        if img_path is None:
            raise ValueError('LoadTokenLabelMap needs results["img_path"] '
                             '(put it after LoadImageFromFile).')
        path = label_map_path(img_path, self.map_root, self.img_root)
        if not osp.isfile(path):
            raise MissingTokenLabelMap(
                f'No token-label map for {img_path}: expected {path}. Dump '
                'the maps with tools/dump_token_labels.py (its DATA_ROOT is '
                'img_root here) or fix map_root/img_root.')
        value = safe_load(path, map_location='cpu', trusted=self.trusted)
        value = check_label_map(value, img_path, self.num_classes,
                                self.map_size, self.topk)
        if self.topk is not None:
            value = value[:, :self.topk]
        results[MAP_KEY] = value
        results[COORDS_KEY] = np.array([0., 0., 1., 1., 0., 0.],
                                       dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(map_root={self.map_root!r}, '
                f'img_root={self.img_root!r}, '
                f'num_classes={self.num_classes}, map_size={self.map_size}, '
                f'topk={self.topk})')


def _compose_crop(coords: np.ndarray, crop: Tuple[float, float, float,
                                                  float]) -> np.ndarray:
    """The record after cropping ``crop = (u1, v1, u2, v2)`` (fractions of
    the current image) out of the image that ``coords`` describes."""
    x1, y1, x2, y2, hflip, vflip = coords.tolist()
    u1, v1, u2, v2 = crop
    w, h = x2 - x1, y2 - y1
    if hflip:
        nx1, nx2 = x2 - u2 * w, x2 - u1 * w
    else:
        nx1, nx2 = x1 + u1 * w, x1 + u2 * w
    if vflip:
        ny1, ny2 = y2 - v2 * h, y2 - v1 * h
    else:
        ny1, ny2 = y1 + v1 * h, y1 + v2 * h
    return np.array([nx1, ny1, nx2, ny2, hflip, vflip], dtype=np.float32)


@TRANSFORMS.register_module()
class RandomResizedCropWithCoords(RandomResizedCropAndInterpolation):
    """mmpretrain ``RandomResizedCrop`` that also records the crop in
    ``token_label_coords`` (when present).

    Args:
        interpolation (str | Sequence[str]): one name (default
            ``'bilinear'``, mmpretrain's) or, as timm's
            ``--train-interpolation random`` (upstream's default),
            ``'random'``: bilinear or bicubic per image.
        Other arguments: as :class:`mmpretrain.datasets.RandomResizedCrop`.
    """

    def __init__(self, scale, *args, interpolation='bilinear', **kwargs):
        super().__init__(scale, *args, interpolation=interpolation, **kwargs)

    def transform(self, results: dict) -> dict:
        img = results['img']
        H, W = img.shape[:2]
        top, left, crop_h, crop_w = self.rand_crop_params(img)
        interpolation = self.rand_interpolation()
        img = mmcv.imcrop(img, bboxes=np.array(
            [left, top, left + crop_w - 1, top + crop_h - 1]))
        results['img'] = mmcv.imresize(
            img, tuple(self.scale[::-1]), interpolation=interpolation,
            backend=self.backend)
        results['img_shape'] = results['img'].shape[:2]
        if COORDS_KEY in results:
            results[COORDS_KEY] = _compose_crop(
                results[COORDS_KEY], (left / W, top / H, (left + crop_w) / W,
                                      (top + crop_h) / H))
        return results


@TRANSFORMS.register_module()
class RandomFlipWithCoords(RandomFlip):
    """mmcv ``RandomFlip`` (horizontal/vertical) that also records the flip
    in ``token_label_coords`` (when present). Same arguments;
    ``'diagonal'`` flips both."""

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if COORDS_KEY not in results:
            return
        coords = results[COORDS_KEY].copy()
        direction = results['flip_direction']
        if direction in ('horizontal', 'diagonal'):
            coords[4] = 1. - coords[4]
        if direction in ('vertical', 'diagonal'):
            coords[5] = 1. - coords[5]
        results[COORDS_KEY] = coords
