"""Re-exports: moved to :mod:`stl_mm.robustness.sweep`."""
from stl_mm.robustness.sweep import *  # noqa: F401,F403
from stl_mm.robustness.sweep import __all__  # noqa: F401
