"""The ``stl_mm`` scope: registries that are children of mmengine's roots.

Every module of this package registers here and is referred to as
``type='stl_mm.X'`` from mmpretrain, mmseg and mmdet configs alike. mmengine
resolves the ``stl_mm.`` prefix by importing this module, and ``locations``
makes the registries import the package parts that register into them, so no
``custom_imports`` is needed in configs.

Nested modules that our modules build from configs (a head, a loss) are looked
up through the config's ``default_scope`` (mmpretrain, mmseg or mmdet), as
mmengine does for every OpenMMLab library.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS',
    'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'FUNCTIONS'
]

RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope='stl_mm',
                   locations=['stl_mm.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='stl_mm',
                 locations=['stl_mm.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='stl_mm',
                 locations=['stl_mm.engine'])
# e.g. a DataLoader worker_init_fn
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, scope='stl_mm',
                     locations=['stl_mm.engine'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='stl_mm',
                    locations=['stl_mm.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS,
                         scope='stl_mm', locations=['stl_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS,
                      scope='stl_mm', locations=['stl_mm.datasets'])
MODELS = Registry('model', parent=MMENGINE_MODELS, scope='stl_mm',
                  locations=['stl_mm.models'])
MODEL_WRAPPERS = Registry('model wrapper', parent=MMENGINE_MODEL_WRAPPERS,
                          scope='stl_mm', locations=['stl_mm.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMENGINE_WEIGHT_INITIALIZERS,
                               scope='stl_mm', locations=['stl_mm.models'])
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS,
                      scope='stl_mm', locations=['stl_mm.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS,
                          scope='stl_mm', locations=['stl_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='stl_mm',
    locations=['stl_mm.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMENGINE_PARAM_SCHEDULERS, scope='stl_mm',
                            locations=['stl_mm.engine'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='stl_mm',
                   locations=['stl_mm.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, scope='stl_mm',
                     locations=['stl_mm.evaluation'])
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS,
                       scope='stl_mm', locations=['stl_mm.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       scope='stl_mm', locations=['stl_mm.visualization'])
