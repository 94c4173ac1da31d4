"""Re-exports: moved to :mod:`stl_mm.robustness.corruptions`."""
from stl_mm.robustness.corruptions import *  # noqa: F401,F403
from stl_mm.robustness.corruptions import __all__  # noqa: F401
