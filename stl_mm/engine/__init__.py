from .optim_wrapper import AutocastOptimWrapper
from .runtime import (check_preprocessor_layout, enable_amp,
                      init_cpu_distributed)

__all__ = ['AutocastOptimWrapper', 'enable_amp', 'init_cpu_distributed',
           'check_preprocessor_layout']
