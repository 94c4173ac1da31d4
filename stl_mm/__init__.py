"""stl_mm: FAN backbones and Self-emerging Token Labeling on OpenMMLab 2.x."""
import warnings

# imagecorruptions 1.1.2 (imported by mmdet, hence by mmpretrain) imports
# pkg_resources at module load, which prints a deprecation warning on every
# run with setuptools 81. Only that message is silenced.
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)

from .utils import checkpoint as _checkpoint  # noqa: E402,F401 (safe loading)
from .version import __version__  # noqa: E402

__all__ = ['__version__']
