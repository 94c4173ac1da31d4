"""Checkpoint loading that never runs code hidden in a pickle.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7
calls plain ``torch.load``: resuming a Runner checkpoint then fails, while
turning ``weights_only`` off would let any downloaded file execute code.

This module replaces mmengine's loaders for local paths and http(s) URLs
(through ``CheckpointLoader.register_scheme``, the mechanism mmengine offers
for this) with one that unpickles through torch's restricted unpickler. It
accepts tensors, plain containers and the few data-only classes that real
checkpoints hold: ``argparse.Namespace`` (timm/upstream training files),
numpy arrays, dtypes and scalars, and mmengine's logging ``HistoryBuffer``
(full Runner checkpoints). Any other global is refused with
:class:`UnsafeCheckpointError`, which names the file, the global and the
opt-in for trusted files (``trusted=True`` or ``STL_MM_TRUST_CHECKPOINTS=1``).
A file that torch cannot read at all (empty, truncated, not a checkpoint) is
refused with :class:`CorruptCheckpointError`, which names the file and what
is wrong with it (:func:`diagnose_checkpoint_file`).
"""
import argparse
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from .errors import UserError

TRUST_ENV = 'STL_MM_TRUST_CHECKPOINTS'

__all__ = ['UnsafeCheckpointError', 'CorruptCheckpointError', 'safe_load',
           'allowed_globals', 'diagnose_checkpoint_file']


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references a global that could execute code on load."""


class CorruptCheckpointError(UserError):
    """A checkpoint file is empty, truncated or not a checkpoint at all."""


_PICKLE_PROTOCOL_2_PLUS = b'\x80'


def diagnose_checkpoint_file(path: str) -> Optional[str]:
    """Say what is wrong with a checkpoint file torch failed to load.

    Returns a short reason (``'the file is empty (0 bytes)'``, ``'truncated
    or damaged zip archive ...'``, ``'not a PyTorch checkpoint ...'``), or
    ``None`` when the container looks intact (the failure lies elsewhere,
    e.g. a refused pickle global). Only reads the file; meant for the error
    path (a zip's members are CRC-checked, which reads the whole file).
    """
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK'):
        if not zipfile.is_zipfile(path):
            return (f'truncated or damaged zip archive ({size} bytes, the '
                    "archive's central directory is missing)")
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            return f'damaged zip archive ({error})'
        if bad is not None:
            return f'damaged zip archive (member "{bad}" fails its CRC check)'
        return None
    if head.startswith(_PICKLE_PROTOCOL_2_PLUS):
        return None  # a legacy (pre-zip) torch file: let torch's error stand
    return (f'not a PyTorch checkpoint ({size} bytes that are neither a '
            'zip archive nor a pickle)')


def _corrupt(path: str, error: BaseException) -> Optional[Exception]:
    reason = diagnose_checkpoint_file(path)
    if reason is None:
        if isinstance(error, (EOFError, )) or 'Ran out of input' in str(
                error):
            reason = 'truncated legacy torch file (unexpected end of file)'
        else:
            return None
    return CorruptCheckpointError(
        f'Cannot load the checkpoint "{path}": {reason}. Use an intact copy '
        '(a run killed while writing, an interrupted download or a full '
        'disk leaves such files).')


def _history_buffer_getattr(obj, name: str):
    """Stand-in for ``getattr`` while unpickling.

    A ``HistoryBuffer`` pickles its table of statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; a general ``getattr`` would hand a
    malicious file any attribute of any allowed object, so only those
    methods resolve.
    """
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'GLOBAL builtins.getattr used on {type(obj).__name__}.{name}')


def allowed_globals() -> list:
    """The classes and functions a checkpoint may reference when unpickled."""
    allowed = [argparse.Namespace, HistoryBuffer, np.ndarray, np.dtype,
               np._core.multiarray._reconstruct, np._core.multiarray.scalar,
               (_history_buffer_getattr, 'builtins.getattr')]
    allowed += [getattr(np.dtypes, name) for name in dir(np.dtypes)
                if name.endswith('DType')]
    return allowed


def _trusted_by_env() -> bool:
    return os.environ.get(TRUST_ENV, '').lower() in ('1', 'true', 'yes')


def _offending_globals(path: str, error: Exception) -> List[str]:
    names: List[str] = []
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        allowed = {g[1] if isinstance(g, tuple) else
                   f'{g.__module__}.{g.__qualname__}'
                   for g in allowed_globals()}
        names = [n for n in names if n not in allowed]
    except Exception:  # legacy (non-zip) files cannot be scanned
        pass
    if not names:
        names = re.findall(r'GLOBAL ([\w.]+)', str(error))
    return names or ['<unknown>']


def safe_load(path: str,
              map_location='cpu',
              trusted: Optional[bool] = None) -> dict:
    """Load a checkpoint file without executing pickled code.

    Args:
        path: a local checkpoint file.
        map_location: as for :func:`torch.load`.
        trusted: load with full pickle (only for files you trust). ``None``
            reads the ``STL_MM_TRUST_CHECKPOINTS`` environment variable.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file references a global outside
            :func:`allowed_globals`.
        CorruptCheckpointError: the file is empty, truncated or not a
            checkpoint.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Checkpoint file not found: "{path}". Check the path (relative '
            f'paths are resolved from {os.getcwd()}).')
    if trusted is None:
        trusted = _trusted_by_env()
    try:
        if trusted:
            return torch.load(path, map_location=map_location,
                              weights_only=False)
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location=map_location,
                              weights_only=True)
    except Exception as error:  # noqa: BLE001 (garbage fails in any way)
        corrupt = _corrupt(path, error)
        if corrupt is not None:
            raise corrupt from None
        if not isinstance(error, pickle.UnpicklingError) or (
                'GLOBAL' not in str(error) and 'global' not in str(error)):
            raise
        names = ', '.join(_offending_globals(path, error))
        raise UnsafeCheckpointError(
            f'Refusing to load "{path}": it references {names}, which '
            'stl_mm does not unpickle because unpickling it could run code. '
            'Only tensors, plain containers, argparse.Namespace, numpy '
            'arrays and mmengine history buffers are loaded by default. If '
            'you trust this file, set the environment variable '
            f'{TRUST_ENV}=1 (or pass trusted=True) to load it with full '
            'pickle.') from None


def _load_local(filename: str, map_location=None) -> dict:
    return safe_load(osp.expanduser(filename), map_location=map_location)


def _load_url(url: str, map_location=None) -> dict:
    """Download once into torch's hub cache (rank 0 first), then safe-load."""
    model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    target = osp.join(model_dir, osp.basename(url.split('?')[0]))
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(target):
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.download_url_to_file(url, target)
    if world_size > 1:
        barrier()
    return safe_load(target, map_location=map_location)


CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
CheckpointLoader.register_scheme(
    prefixes=('http://', 'https://'), loader=_load_url, force=True)
