"""One clear message instead of a deep traceback for the usual user errors.

The ``tools/`` scripts run their ``main`` inside :func:`friendly_errors`.
Set ``STL_MM_DEBUG=1`` to get the full traceback instead.
"""
import os
import re
import sys
from contextlib import contextmanager
from typing import Optional

from .checkpoint import UnsafeCheckpointError

DEBUG_ENV = 'STL_MM_DEBUG'


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def explain(error: BaseException) -> Optional[str]:
    """Return a user-facing explanation for a known error, else ``None``."""
    text = str(error)
    if isinstance(error, UnsafeCheckpointError) or getattr(
            error, 'user_facing', False):
        return text
    registry_miss = re.search(
        r"([\w.]+) is not in the (?:\w+::)?(\w+) registry", text)
    if isinstance(error, KeyError) and registry_miss:
        name, registry = registry_miss.groups()
        return (f'The config names an unknown {registry} type {name}. Check '
                'the spelling; stl_mm modules are written with the scope '
                "prefix (e.g. type='stl_mm.FAN'), plain names resolve in the "
                "config's default_scope (mmpretrain, mmseg or mmdet).")
    if 'failed to load image' in text or 'cannot identify image file' in text:
        path = re.search(r'failed to load image: (\S+)', text)
        where = path.group(1) if path else _last_line(text)
        return (f'Cannot read the image {where}: the file is empty, corrupt '
                'or not an image. Replace it, or remove it from the '
                'annotation list / data folder.')
    if isinstance(error, FileNotFoundError) or 'FileNotFoundError' in text:
        return (f'{_last_line(text)}\nCheck the path in the config or pass '
                'the right one, e.g. --cfg-options '
                'train_dataloader.dataset.data_root=/path/to/data.')
    return None


@contextmanager
def friendly_errors():
    """Turn known user errors into one message and exit status 2."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # noqa: BLE001 (re-raised when unknown)
        message = explain(error)
        if message is None or os.environ.get(DEBUG_ENV):
            raise
        print(f'error: {message}\n(set {DEBUG_ENV}=1 for the full '
              'traceback)', file=sys.stderr)
        sys.exit(2)
