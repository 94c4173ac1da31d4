from .hooks import EpochSeedHook, PreflightHook, WorkDirLockHook
from .optim_wrapper import AutocastOptimWrapper
from .runtime import (check_preprocessor_layout, enable_amp,
                      init_cpu_distributed, init_distributed)
from .test_runner import build_test_runner, run_test
from .train_setup import prepare_training

__all__ = [
    'AutocastOptimWrapper', 'enable_amp', 'init_cpu_distributed',
    'init_distributed', 'build_test_runner', 'run_test',
    'check_preprocessor_layout', 'prepare_training', 'EpochSeedHook',
    'PreflightHook', 'WorkDirLockHook'
]
