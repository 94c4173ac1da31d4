from .compile import CompileHook
from .epoch_seed import EpochSeedHook, epoch_seeded_worker_init
from .preflight import PreflightHook
from .work_dir_lock import WorkDirLockHook

__all__ = ['CompileHook', 'EpochSeedHook', 'epoch_seeded_worker_init', 'PreflightHook',
           'WorkDirLockHook']
