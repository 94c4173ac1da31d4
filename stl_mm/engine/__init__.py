from .optim_wrapper import AutocastOptimWrapper
from .runtime import enable_amp, init_cpu_distributed

__all__ = ['AutocastOptimWrapper', 'enable_amp', 'init_cpu_distributed']
