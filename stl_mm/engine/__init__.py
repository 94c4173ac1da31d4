from .optim_wrapper import AutocastOptimWrapper
from .runtime import enable_amp, init_cpu_distributed, init_distributed
from .test_runner import build_test_runner, run_test

__all__ = [
    'AutocastOptimWrapper', 'enable_amp', 'init_cpu_distributed',
    'init_distributed', 'build_test_runner', 'run_test'
]
