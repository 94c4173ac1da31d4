"""``stl_mm.ImageCorruption``: an ImageNet-C corruption as a pipeline step."""
import hashlib
import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from stl_mm.registry import TRANSFORMS
from stl_mm.robustness.corruptions import (ALL_CORRUPTIONS, corrupt,
                                           corruption_seed,
                                           resolve_corruptions)


@TRANSFORMS.register_module()
class ImageCorruption(BaseTransform):
    """Apply one ``imagecorruptions`` corruption to ``results['img']``.

    Works in mmpretrain, mmseg and mmdet pipelines: place it right after
    ``LoadImageFromFile`` (before resizing and normalisation), e.g.
    ``dict(type='stl_mm.ImageCorruption', corruption='fog', severity=3)``.
    Annotations are not touched; every corruption keeps the image size.

    The image is taken as OpenMMLab loads it (H x W x 3 ``uint8`` BGR, or
    H x W grayscale), converted to RGB for the corruption and back. Float
    images are clipped to [0, 255], corrupted as ``uint8`` and returned in
    their dtype.

    Randomness is deterministic per image: numpy's global random state is
    seeded, for this call only, with a hash of the image key, the
    corruption, the severity and ``seed`` (see
    :func:`stl_mm.robustness.corruptions.corruption_seed`). The image
    key is ``img_path`` relative to ``data_root`` when ``data_root`` is given
    (then the result equals ``tools/make_corrupted_dataset.py`` run on that
    root with the same ``--seed``, before the file is encoded), otherwise
    the file name of ``img_path``; images without a path are keyed by a hash
    of their pixels.

    Adds ``corruption`` and ``severity`` to ``results``.

    Args:
        corruption: one of the 19 ImageNet-C corruption names.
        severity: 1..5.
        seed: base seed; ``None`` draws from numpy's global random state
            (not reproducible).
        data_root: root for the image key, see above.
        key: the results key holding the image.
    """

    def __init__(self,
                 corruption: str,
                 severity: int = 1,
                 seed: Optional[int] = 0,
                 data_root: Optional[str] = None,
                 key: str = 'img') -> None:
        names = resolve_corruptions([corruption])
        if len(names) != 1 or names[0] not in ALL_CORRUPTIONS:
            raise ValueError('ImageCorruption takes a single corruption name, '
                             f'got {corruption!r}.')
        if int(severity) != severity or not 1 <= int(severity) <= 5:
            raise ValueError(
                f'severity must be an integer in 1..5, got {severity!r}.')
        self.corruption = names[0]
        self.severity = int(severity)
        self.seed = seed
        self.data_root = data_root
        self.key = key

    def _image_key(self, results: dict, img: np.ndarray) -> str:
        path = results.get('img_path')
        if path:
            if self.data_root:
                rel = osp.relpath(osp.abspath(path),
                                  osp.abspath(self.data_root))
                return rel.replace(osp.sep, '/')
            return osp.basename(path)
        digest = hashlib.sha256(np.ascontiguousarray(img).tobytes())
        return 'pixels:' + digest.hexdigest()[:16]

    def transform(self, results: dict) -> dict:
        img = results[self.key]
        dtype = img.dtype
        work = img if dtype == np.uint8 else np.clip(
            np.rint(img), 0, 255).astype(np.uint8)
        gray = work.ndim == 2 or (work.ndim == 3 and work.shape[2] == 1)
        if gray:
            rgb = work.reshape(work.shape[:2])
        elif work.ndim == 3 and work.shape[2] == 3:
            rgb = work[..., ::-1]
        else:
            raise ValueError('ImageCorruption expects an H x W x 3 (BGR) or '
                             f'grayscale image, got shape {img.shape}.')
        seed = None
        if self.seed is not None:
            seed = corruption_seed(
                self._image_key(results, work), self.corruption,
                self.severity, self.seed)
        out = corrupt(rgb, self.corruption, self.severity, seed=seed)
        if gray:
            # the channels stay equal for a gray input only for some
            # corruptions; average them back into one channel
            out = np.rint(out.astype(np.float32).mean(axis=2)).astype(
                np.uint8).reshape(img.shape)
        else:
            out = np.ascontiguousarray(out[..., ::-1])
        if dtype != np.uint8:
            out = out.astype(dtype)
        results[self.key] = out
        results['corruption'] = self.corruption
        results['severity'] = self.severity
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(corruption={self.corruption!r}, '
                f'severity={self.severity}, seed={self.seed}, '
                f'data_root={self.data_root!r})')
