"""Where the configs, tools and model index of stl_mm are.

Two layouts hold them:

- a source checkout: ``configs/``, ``tools/`` and ``model-index.yml`` next
  to the ``stl_mm/`` package folder (also an editable install);
- an installed package (wheel, ``pip install .``): copies in
  ``stl_mm/.mim/`` made by ``setup.py`` (the OpenMMLab ``.mim`` layout that
  ``mim train/test/run`` and mmpretrain's model hub read).

:func:`resource_root` picks the one that exists (the checkout first, so a
stale ``.mim`` copy left in a checkout by a wheel build is never read);
every caller finds configs through :func:`find_config`.
"""
from pathlib import Path

__all__ = [
    'PACKAGE_DIR', 'resource_root', 'config_root', 'find_config',
    'tool_path', 'model_index_path'
]

#: the ``stl_mm`` package folder
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _is_checkout(root: Path) -> bool:
    return (root / 'configs' / '_base_').is_dir() and (
        root / 'setup.py').is_file()


def resource_root() -> Path:
    """The folder that holds ``configs/``, ``tools/`` and
    ``model-index.yml``: the source checkout if stl_mm runs from one, else
    the installed package's ``stl_mm/.mim`` (which may be missing in a
    broken install; :func:`find_config` then says so)."""
    checkout = PACKAGE_DIR.parent
    if _is_checkout(checkout):
        return checkout
    return PACKAGE_DIR / '.mim'


def config_root() -> Path:
    """The ``configs`` folder (see :func:`resource_root`)."""
    return resource_root() / 'configs'


def _missing(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f'{what} {path} is missing: this stl_mm install has no packaged '
        f'configs and tools (neither a source checkout next to '
        f'{PACKAGE_DIR} nor {PACKAGE_DIR / ".mim"}); reinstall it with '
        '"pip install ." or "pip install -e ." from the repository.')


def find_config(relpath: str) -> Path:
    """Path of the config ``relpath`` (relative to ``configs/``, e.g.
    ``'fan/fan-tiny-12-p16_8xb128-310e_in1k.py'``).

    Raises:
        FileNotFoundError: the config is not there, with the reason.
    """
    path = config_root() / relpath
    if not path.is_file():
        raise _missing(path, 'Config')
    return path


def tool_path(relpath: str) -> Path:
    """Path of the tool ``relpath`` (relative to ``tools/``, e.g.
    ``'train.py'``)."""
    path = resource_root() / 'tools' / relpath
    if not path.is_file():
        raise _missing(path, 'Tool')
    return path


def model_index_path() -> Path:
    """The ``model-index.yml`` that lists every family's metafile."""
    return resource_root() / 'model-index.yml'
