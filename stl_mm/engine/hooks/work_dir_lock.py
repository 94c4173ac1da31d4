"""Refuse a second live training in the same work dir.

Two runs in one work dir overwrite each other's checkpoints and
``last_checkpoint`` without a word (mmengine names checkpoints by epoch
only). This hook takes an exclusive ``flock`` on ``<work_dir>/.train.lock``
on rank 0 before anything is trained; the operating system drops the lock
when the process ends, however it ends, so a killed run leaves no stale
lock. Platforms without ``fcntl`` (Windows) are not guarded.
"""
import os
import os.path as osp
import socket

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from stl_mm.registry import HOOKS
from stl_mm.utils.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None

__all__ = ['WorkDirLockHook', 'LOCK_NAME']

LOCK_NAME = '.train.lock'


@HOOKS.register_module()
class WorkDirLockHook(Hook):
    """Hold ``<work_dir>/.train.lock`` from ``before_run`` to ``after_run``.

    Raises:
        UserError: another live process holds the lock (its pid and host,
            as it wrote them, are named).
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._file = None

    def before_run(self, runner) -> None:
        if fcntl is None or not is_main_process():
            return
        path = osp.join(runner.work_dir, LOCK_NAME)
        lock = open(path, 'a+')
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or 'unknown process'
            lock.close()
            raise UserError(
                f'Another training is running in the work dir '
                f'"{runner.work_dir}" ({holder}; lock file {path}). Two '
                "runs in one work dir overwrite each other's checkpoints: "
                'give this one another --work-dir, or wait for the other '
                'to end.') from None
        lock.seek(0)
        lock.truncate()
        lock.write(f'pid {os.getpid()} on {socket.gethostname()}')
        lock.flush()
        self._file = lock

    def after_run(self, runner) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the flock
            self._file = None
