from .hooks import EpochSeedHook, PreflightHook, WorkDirLockHook
from .optim_wrapper import AutocastOptimWrapper
from .runtime import enable_amp, init_cpu_distributed
from .train_setup import prepare_training

__all__ = ['AutocastOptimWrapper', 'enable_amp', 'init_cpu_distributed',
           'prepare_training', 'EpochSeedHook', 'PreflightHook',
           'WorkDirLockHook']
