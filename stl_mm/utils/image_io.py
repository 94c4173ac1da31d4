"""One image reader for the data loaders and the dataset writers.

``cv2`` decodes a truncated JPEG or PNG without an error (the missing part
comes out grey) and fails on an empty file with an assertion that does not
name the file. :func:`decode_image` checks the bytes first, so that every
reader of the project gives the same verdict on the same file, in an
:class:`ImageReadError` that names it:

- an empty file;
- a JPEG without its end-of-image marker, a PNG without its ``IEND`` chunk
  (truncated: a half-written copy, an interrupted download);
- bytes that the decoder cannot read as an image.
"""
from typing import Optional

import mmcv
import numpy as np
from mmengine import fileio

from stl_mm.utils.errors import UserError

__all__ = ['ImageReadError', 'image_bytes_problem', 'decode_image',
           'read_image']

_JPEG_START, _JPEG_END = b'\xff\xd8\xff', b'\xff\xd9'
_PNG_START, _PNG_END = b'\x89PNG\r\n\x1a\n', b'IEND'
# the end marker must lie this close to the end of the file (a few writers
# append padding or metadata after it)
_TAIL = 4096


class ImageReadError(UserError):
    """An image file is empty, truncated or not an image."""


def image_bytes_problem(data: bytes) -> Optional[str]:
    """What is wrong with the bytes of an image file, or ``None``.

    Only cheap checks of the container (no decoding): emptiness and the
    end marker of JPEG and PNG files.
    """
    if len(data) == 0:
        return 'the file is empty (0 bytes)'
    tail = data[-_TAIL:]
    if data.startswith(_JPEG_START) and _JPEG_END not in tail:
        return (f'truncated JPEG ({len(data)} bytes, no end-of-image '
                'marker)')
    if data.startswith(_PNG_START) and _PNG_END not in tail:
        return f'truncated PNG ({len(data)} bytes, no IEND chunk)'
    return None


def _error(name: str, reason: str) -> ImageReadError:
    return ImageReadError(
        f'Cannot read the image "{name}": {reason}. Replace the file, or '
        'remove it from the annotation list / data folder.')


def decode_image(data: bytes, name: str, flag: str = 'color',
                 backend: str = 'cv2',
                 channel_order: str = 'bgr') -> np.ndarray:
    """Decode image bytes with ``mmcv.imfrombytes`` after
    :func:`image_bytes_problem`.

    Args:
        data: the file's bytes.
        name: the file name, for the error message.
        flag, backend, channel_order: as for ``mmcv.imfrombytes``.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 (``(H, W)`` for ``flag='grayscale'``).

    Raises:
        ImageReadError: the bytes are no complete image.
    """
    problem = image_bytes_problem(data)
    if problem is not None:
        raise _error(name, problem)
    try:
        img = mmcv.imfrombytes(data, flag=flag, channel_order=channel_order,
                               backend=backend)
    except Exception as error:  # noqa: BLE001 (decoders raise anything)
        raise _error(name, f'the {backend} decoder fails on it '
                     f'({type(error).__name__})') from None
    if img is None:
        raise _error(name, f'the {backend} decoder cannot read it (not an '
                     'image, or a damaged one)')
    return img


def read_image(path: str, flag: str = 'color', backend: str = 'cv2',
               channel_order: str = 'bgr',
               backend_args: Optional[dict] = None) -> np.ndarray:
    """Read an image file (any mmengine fileio backend) with
    :func:`decode_image`."""
    return decode_image(fileio.get(path, backend_args=backend_args), path,
                        flag=flag, backend=backend,
                        channel_order=channel_order)
