"""``LoadImageFromFile`` that refuses empty and truncated image files.

mmcv's transform decodes with cv2, which fails on an empty file without
naming it and decodes a truncated JPEG silently (grey lower part). This
subclass reads through :func:`stl_mm.utils.image_io.decode_image`, the
reader ``tools/make_corrupted_dataset.py`` uses as well, so a file gets the
same verdict everywhere. Options are mmcv's.
"""
from typing import Optional

import numpy as np
from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmengine import fileio

from stl_mm.registry import TRANSFORMS

from stl_mm.utils.image_io import decode_image

__all__ = ['LoadImageFromFile']


@TRANSFORMS.register_module()
class LoadImageFromFile(_MMCVLoadImageFromFile):
    """Load ``results['img_path']`` into ``img`` (H, W, 3 BGR uint8, or
    float32 with ``to_float32``), with ``img_shape`` and ``ori_shape``.

    A sample that arrives decoded (``img`` and no ``img_path``) passes
    through: mmpretrain's inferencers (``ImageClassificationInferencer``)
    load images themselves and strip only the unscoped ``LoadImageFromFile``
    from a config's pipeline, not ``stl_mm.LoadImageFromFile``."""

    def transform(self, results: dict) -> Optional[dict]:
        if 'img_path' not in results and 'img' in results:
            return results
        filename = results['img_path']
        try:
            if self.file_client_args is not None:
                data = fileio.FileClient.infer_client(
                    self.file_client_args, filename).get(filename)
            else:
                data = fileio.get(filename, backend_args=self.backend_args)
            img = decode_image(data, filename, flag=self.color_type,
                               backend=self.imdecode_backend)
        except Exception:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
