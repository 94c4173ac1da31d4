"""stl_mm: FAN backbones and Self-emerging Token Labeling on OpenMMLab 2.x."""
from .utils import checkpoint as _checkpoint  # noqa: F401 (safe loading)
from .version import __version__

__all__ = ['__version__']
