from .hooks import EpochSeedHook, PreflightHook, WorkDirLockHook
from .optim_wrapper import AutocastOptimWrapper
from .runtime import (check_preprocessor_layout, enable_amp,
                      init_cpu_distributed)
from .train_setup import prepare_training

__all__ = ['AutocastOptimWrapper', 'enable_amp', 'init_cpu_distributed',
           'check_preprocessor_layout', 'prepare_training', 'EpochSeedHook',
           'PreflightHook', 'WorkDirLockHook']
