"""stl_mm's model index in mmpretrain's model hub.

:func:`register_model_hub` (called on ``import stl_mm``) adds the models of
the classification metafiles to ``mmpretrain.apis.ModelHub``, so that
``mmpretrain.list_models('*fan*')``, ``mmpretrain.get_model(name)`` and
``mmpretrain.ImageClassificationInferencer(name)`` know them. The configs
of those models are in mmpretrain's scope with ``stl_mm.``-prefixed types,
so mmpretrain builds them as they are.

Segmentation, detection and robustness metafiles are in ``model-index.yml``
(for ``mim``) but not in the hub: mmpretrain builds classifiers only.
"""
import warnings
from typing import Dict, List

from .resources import resource_root

__all__ = ['HUB_METAFILES', 'register_model_hub', 'metafile_models']

#: metafiles (relative to the resource root) registered with mmpretrain
HUB_METAFILES = ('configs/fan/metafile.yml', 'configs/stl/metafile.yml',
                 'configs/lvvit/metafile.yml')

_registered = False


def metafile_models(relpath: str) -> List[Dict]:
    """The ``Models`` entries of one metafile, as plain dicts."""
    import yaml
    with open(resource_root() / relpath) as f:
        return list(yaml.safe_load(f).get('Models') or [])


def register_model_hub() -> bool:
    """Register the classification metafiles with mmpretrain's ModelHub
    once per process; True when the models are (now) registered.

    A missing metafile (a broken install) is a warning, not an import
    error: everything else in stl_mm still works.
    """
    global _registered
    if _registered:
        return True
    from mmpretrain.apis.model import ModelHub
    root = resource_root()
    for relpath in HUB_METAFILES:
        path = root / relpath
        if not path.is_file():
            warnings.warn(f'stl_mm: {path} is missing; its models are not '
                          'in mmpretrain.list_models(). Reinstall stl_mm.')
            continue
        first = metafile_models(relpath)[0]['Name'].lower()
        if not ModelHub.has(first):  # e.g. a second stl_mm import path
            ModelHub.register_model_index(path, config_prefix=root)
    _registered = True
    return True
