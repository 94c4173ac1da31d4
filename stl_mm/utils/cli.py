"""One clear message instead of a deep traceback for the usual user errors.

The ``tools/`` scripts run their ``main`` inside :func:`friendly_errors`.
Set ``STL_MM_DEBUG=1`` to get the full traceback instead.

What counts as a user error (:func:`explain`):

- errors marked ``user_facing`` (:class:`stl_mm.utils.errors.UserError`,
  unsafe or corrupt checkpoints, checkpoint mismatches);
- ``ValueError``/``TypeError``/``FileNotFoundError`` raised by an explicit
  ``raise`` in stl_mm itself or in ``tools/`` (our own checks of configs and
  data, whose messages are written for users);
- a few library errors with a recognisable cause: an unknown registry type,
  an option a module does not take, a missing file, a path that cannot be
  created.

The whole message is shown (not only its last line); a hint is added only
where it applies (the data_root hint for files missing while a dataset is
built).
"""
import os
import os.path as osp
import re
import sys
import traceback
from contextlib import contextmanager
from typing import Optional

from .checkpoint import UnsafeCheckpointError

DEBUG_ENV = 'STL_MM_DEBUG'

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
_TOOLS_DIR = osp.join(osp.dirname(_PACKAGE_DIR), 'tools')
_WORKER_TRACEBACK = 'Original Traceback (most recent call last):'
_FRAME = re.compile(r'File "([^"]+)", line \d+, in [^\n]*\n([^\n]*)')
_DATASET_DIRS = ('/datasets/', '/dataset/')


def _ours(filename: str) -> bool:
    path = osp.abspath(filename)
    return path.startswith((_PACKAGE_DIR + os.sep, _TOOLS_DIR + os.sep))


def _root_cause(error: BaseException) -> BaseException:
    """Undo mmengine's ``raise type(e)(f'class X in ...: {e}')`` re-raise:
    the first error of the same type whose message it repeats."""
    seen = {id(error)}
    while True:
        inner = error.__cause__ or error.__context__
        if (inner is None or id(inner) in seen
                or type(inner) is not type(error)
                or str(inner) not in str(error)):
            return error
        seen.add(id(inner))
        error = inner


def _worker_message(text: str) -> str:
    """The exception message at the end of a DataLoader worker's traceback
    text (torch re-raises worker errors with the traceback in the text)."""
    if _WORKER_TRACEBACK not in text:
        return text
    lines = text.split(_WORKER_TRACEBACK, 1)[1].splitlines()
    last_indented = max((i for i, line in enumerate(lines)
                         if line.startswith(' ')), default=-1)
    message = '\n'.join(lines[last_indented + 1:]).strip()
    return re.sub(r'^[\w.]+: ', '', message) or text


def _raised_by_us(error: BaseException) -> bool:
    """Whether the innermost frame is an explicit ``raise`` in stl_mm or
    tools/ (for worker errors: the last frame of the traceback text)."""
    text = str(error)
    if _WORKER_TRACEBACK in text:
        frames = _FRAME.findall(text.split(_WORKER_TRACEBACK, 1)[1])
        if not frames:
            return False
        filename, line = frames[-1]
    else:
        frames = traceback.extract_tb(error.__traceback__)
        if not frames:
            return False
        filename, line = frames[-1].filename, frames[-1].line or ''
    return _ours(filename) and line.lstrip().startswith('raise')


def _in_dataset_code(error: BaseException) -> bool:
    return any(d in frame.filename.replace(os.sep, '/')
               for frame in traceback.extract_tb(error.__traceback__)
               for d in _DATASET_DIRS)


def explain(error: BaseException) -> Optional[str]:
    """Return a user-facing explanation for a known error, else ``None``."""
    root = _root_cause(error)
    text = _worker_message(str(root))
    if isinstance(root, UnsafeCheckpointError) or getattr(
            root, 'user_facing', False):
        return text
    registry_miss = re.search(
        r"([\w.]+) is not in the (?:\w+::)?(\w+) registry", str(error))
    if isinstance(error, KeyError) and registry_miss:
        name, registry = registry_miss.groups()
        return (f'The config names an unknown {registry} type {name}. Check '
                'the spelling; stl_mm modules are written with the scope '
                "prefix (e.g. type='stl_mm.FAN'), plain names resolve in the "
                "config's default_scope (mmpretrain, mmseg or mmdet).")
    unexpected = re.search(
        r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'",
        str(error))
    if isinstance(error, TypeError) and unexpected:
        cls, key = unexpected.groups()
        return (f'The config gives {cls} an option it does not take: '
                f"'{key}'. Check the spelling of that key (in the config "
                'file or in --cfg-options).')
    if 'failed to load image' in text or 'cannot identify image file' in text:
        path = re.search(r'failed to load image: (\S+)', text)
        where = path.group(1) if path else text
        return (f'Cannot read the image {where}: the file is empty, corrupt '
                'or not an image. Replace it, or remove it from the '
                'annotation list / data folder.')
    no_files = isinstance(root, RuntimeError) and text.startswith(
        'Found 0 files')  # mmpretrain's CustomDataset on an empty folder
    if isinstance(root, FileNotFoundError) or no_files:
        if _in_dataset_code(error):
            return (f'{text}\nCheck the dataset paths of the config '
                    '(data_root, ann_file, data_prefix), e.g. --cfg-options '
                    'train_dataloader.dataset.data_root=/path/to/data (and '
                    'val_dataloader / test_dataloader alike).')
        return text if not no_files else None
    if isinstance(root, (PermissionError, FileExistsError, NotADirectoryError,
                         IsADirectoryError)) and root.filename:
        return (f'Cannot create or write "{root.filename}": {root.strerror}. '
                'Check the path (e.g. --work-dir) and its permissions.')
    if isinstance(root, (ValueError, TypeError)) and _raised_by_us(root):
        return text
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
