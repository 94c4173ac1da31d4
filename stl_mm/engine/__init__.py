from .hooks import CompileHook, EpochSeedHook, PreflightHook, WorkDirLockHook
from .optim_wrapper import AutocastOptimWrapper
from .sophia import HessianOptimWrapper, SophiaH
from .runtime import (check_preprocessor_layout, enable_amp,
                      enable_compile,
                      init_cpu_distributed, init_distributed)
from .test_runner import build_test_runner, run_test
from .train_runner import build_train_runner, run_train
from .train_setup import GUARD_HOOKS, prepare_training

__all__ = [
    'AutocastOptimWrapper', 'HessianOptimWrapper', 'SophiaH', 'enable_amp',
    'enable_compile', 'CompileHook', 'init_cpu_distributed',
    'init_distributed', 'build_test_runner', 'run_test',
    'check_preprocessor_layout', 'prepare_training', 'build_train_runner',
    'run_train', 'EpochSeedHook',
    'PreflightHook', 'WorkDirLockHook', 'GUARD_HOOKS'
]
