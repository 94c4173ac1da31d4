"""stl_mm: FAN backbones and Self-emerging Token Labeling on OpenMMLab 2.x."""
import warnings

# imagecorruptions 1.1.2 (imported by mmdet, hence by mmpretrain) imports
# pkg_resources at module load, which prints a deprecation warning on every
# run with setuptools 81. Only that message is silenced.
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)

from .utils import checkpoint as _checkpoint  # noqa: E402,F401 (safe loading)
from .utils.model_hub import register_model_hub  # noqa: E402
from .version import __version__  # noqa: E402

# stl_mm's models in mmpretrain.list_models() / get_model() /
# ImageClassificationInferencer (configs/{fan,stl,lvvit}/metafile.yml)
register_model_hub()

__all__ = ['__version__']
