"""Make the ``imagecorruptions`` package (1.1.2) usable on the current stack.

The package is what every upstream ``-C`` generator uses, so its corruption
functions are used as they are, except for the three spots that break on
current dependencies:

* ``import imagecorruptions`` imports ``pkg_resources`` (only for the frost
  texture paths); setuptools >= 82 no longer ships it. While the package is
  imported, a stand-in ``pkg_resources`` offering ``resource_filename`` is
  placed in ``sys.modules`` (unless a real one is already loaded) and removed
  again afterwards; the stand-in resolves the path next to the module file,
  as ``pkg_resources`` does for a regular install.
* ``glass_blur`` and ``gaussian_blur`` call ``skimage.filters.gaussian`` with
  ``multichannel=True``; scikit-image >= 0.19 replaced that argument with
  ``channel_axis``. Both functions are rebound to globals in which
  ``gaussian`` translates the argument.
* ``fog`` calls ``plasma_fractal``, which uses ``np.float_`` (removed in
  numpy 2). ``plasma_fractal`` is rebound to globals in which ``np`` also has
  ``float_``, and ``fog`` to globals that use that ``plasma_fractal``.

The rebound functions run the package's own bytecode. Only functions found
broken are replaced (the checks look at scikit-image and numpy, not at
version numbers), and they are also installed into the package
(``imagecorruptions.corruption_dict`` and friends) so that code calling
``imagecorruptions.corrupt`` directly, such as mmdet's ``Corrupt`` transform,
works too.

Determinism: all corruptions draw from numpy's global random state, except
``impulse_noise``, whose ``skimage.util.random_noise`` draws from a fresh
unseeded generator on scikit-image >= 0.21. :func:`get_corruption_function`
(used by :func:`corrupt`) therefore returns an ``impulse_noise`` that hands
``random_noise`` a seed drawn from numpy's global state; that variant is not
installed into the package. :func:`corrupt` with ``seed=`` seeds numpy's
global state for the call and restores it afterwards.

Nothing here imports ``imagecorruptions`` at module import time: the
corruption name lists and :func:`resolve_corruptions` work without it.
"""
import contextlib
import functools
import hashlib
import importlib
import inspect
import os.path as osp
import sys
import threading
import types
import warnings
from typing import Callable, Dict, Iterable, List, Optional, Union

import numpy as np

__all__ = [
    'COMMON_CORRUPTIONS', 'EXTRA_CORRUPTIONS', 'ALL_CORRUPTIONS',
    'resolve_corruptions', 'load_imagecorruptions', 'get_corruption_function',
    'corrupt', 'numpy_seed', 'corruption_seed', 'patched_functions'
]

#: The 15 corruptions of ImageNet-C that enter mCE, in the package's order.
COMMON_CORRUPTIONS = ('gaussian_noise', 'shot_noise', 'impulse_noise',
                      'defocus_blur', 'glass_blur', 'motion_blur',
                      'zoom_blur', 'snow', 'frost', 'fog', 'brightness',
                      'contrast', 'elastic_transform', 'pixelate',
                      'jpeg_compression')
#: The 4 held-out ("validation") corruptions, reported but not in mCE.
EXTRA_CORRUPTIONS = ('speckle_noise', 'gaussian_blur', 'spatter',
                     'saturate')
#: All 19 corruptions of the released ImageNet-C.
ALL_CORRUPTIONS = COMMON_CORRUPTIONS + EXTRA_CORRUPTIONS

_GROUPS = {
    'all': ALL_CORRUPTIONS,
    'common': COMMON_CORRUPTIONS,
    'extra': EXTRA_CORRUPTIONS,
    'validation': EXTRA_CORRUPTIONS,
}


def resolve_corruptions(spec: Union[str, Iterable[str], None]) -> List[str]:
    """Turn a corruption selection into a list of corruption names.

    Args:
        spec: ``None`` or ``'all'`` (the 19), ``'common'`` (the 15 of mCE),
            ``'extra'``/``'validation'`` (the 4 held-out ones), one name, a
            comma-separated string, or an iterable mixing names and group
            words. Order is kept, duplicates are dropped.

    Raises:
        ValueError: an unknown name (the message lists the valid ones and a
            case-insensitive match if there is one).
    """
    if spec is None:
        spec = 'all'
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(',') if s.strip()]
    else:
        items = [str(s).strip() for s in spec]
    names: List[str] = []
    for item in items:
        group = _GROUPS.get(item.lower())
        if group is not None:
            chosen = list(group)
        elif item in ALL_CORRUPTIONS:
            chosen = [item]
        else:
            hint = [n for n in ALL_CORRUPTIONS if n.lower() == item.lower()]
            extra = f' Did you mean "{hint[0]}"?' if hint else ''
            raise ValueError(
                f'Unknown corruption "{item}".{extra} Valid names: '
                f'{", ".join(ALL_CORRUPTIONS)}; groups: '
                f'{", ".join(_GROUPS)}.')
        for name in chosen:
            if name not in names:
                names.append(name)
    if not names:
        raise ValueError('No corruption selected.')
    return names


# --------------------------------------------------------------------------
# Loading and patching the package
# --------------------------------------------------------------------------
_LOCK = threading.Lock()
_STATE: Dict[str, object] = {}


def _resource_filename(package_or_module: str, resource_name: str) -> str:
    """``pkg_resources.resource_filename`` for a plain on-disk install."""
    module = sys.modules.get(package_or_module)
    if module is None:
        module = importlib.import_module(package_or_module)
    return osp.normpath(
        osp.join(osp.dirname(osp.abspath(module.__file__)), resource_name))


def _import_package() -> types.ModuleType:
    """Import ``imagecorruptions``, standing in for ``pkg_resources``."""
    if 'imagecorruptions' in sys.modules:
        return sys.modules['imagecorruptions']
    with warnings.catch_warnings():
        # scipy.ndimage.interpolation (used by the package) is deprecated
        warnings.filterwarnings('ignore', category=DeprecationWarning,
                                message='.*scipy.ndimage.interpolation.*')
        return _import_with_stub()


def _import_with_stub() -> types.ModuleType:
    if sys.modules.get('pkg_resources') is not None:
        return importlib.import_module('imagecorruptions')
    stub = types.ModuleType('pkg_resources')
    stub.__doc__ = 'stl_mm stand-in used while importing imagecorruptions'
    stub.resource_filename = _resource_filename
    previous = sys.modules.get('pkg_resources', ...)
    sys.modules['pkg_resources'] = stub
    try:
        return importlib.import_module('imagecorruptions')
    except ModuleNotFoundError as error:
        if error.name == 'imagecorruptions':
            raise ModuleNotFoundError(
                'The "imagecorruptions" package is not installed; install '
                'imagecorruptions==1.1.2 (see requirements/runtime.txt).',
                name='imagecorruptions') from None
        raise
    finally:
        if sys.modules.get('pkg_resources') is stub:
            if previous is ...:
                del sys.modules['pkg_resources']
            else:
                sys.modules['pkg_resources'] = previous


def _rebind(func: Callable, **overrides) -> Callable:
    """A copy of ``func`` whose global names ``overrides`` are replaced."""
    new_globals = dict(func.__globals__)
    new_globals.update(overrides)
    clone = types.FunctionType(func.__code__, new_globals, func.__name__,
                               func.__defaults__, func.__closure__)
    clone.__kwdefaults__ = func.__kwdefaults__
    clone.__qualname__ = func.__qualname__
    clone.__module__ = func.__module__
    clone.__doc__ = func.__doc__
    clone.__stl_mm_compat__ = True
    return clone


class _ModuleView(types.ModuleType):
    """A module that shows ``base``'s attributes plus some overrides."""

    def __init__(self, base: types.ModuleType, **overrides):
        super().__init__(base.__name__)
        self.__dict__['_base'] = base
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self.__dict__['_base'], name)


def _gaussian_needs_shim() -> bool:
    from skimage.filters import gaussian
    return 'multichannel' not in inspect.signature(gaussian).parameters


def _make_gaussian_shim() -> Callable:
    from skimage.filters import gaussian

    @functools.wraps(gaussian)
    def gaussian_compat(image, *args, multichannel=None, **kwargs):
        if multichannel is not None and 'channel_axis' not in kwargs:
            kwargs['channel_axis'] = -1 if multichannel else None
        return gaussian(image, *args, **kwargs)

    return gaussian_compat


def _random_noise_is_unseeded() -> bool:
    from skimage.util import random_noise
    params = inspect.signature(random_noise).parameters
    return 'rng' in params


def _make_seeded_sk(sk_module: types.ModuleType) -> types.ModuleType:
    """``skimage`` as seen by ``impulse_noise``: ``util.random_noise`` draws
    its generator seed from numpy's global random state."""
    from skimage.util import random_noise

    def random_noise_seeded(image, *args, **kwargs):
        if kwargs.get('rng') is None and kwargs.get('seed') is None:
            kwargs.pop('seed', None)
            kwargs['rng'] = int(np.random.randint(0, 2**31 - 1))
        return random_noise(image, *args, **kwargs)

    util = _ModuleView(sk_module.util, random_noise=random_noise_seeded)
    return _ModuleView(sk_module, util=util)


def _install(package: types.ModuleType, fixed: Dict[str, Callable]) -> None:
    """Put fixed functions where the package and its users look them up."""
    module = package.corruptions
    for name, func in fixed.items():
        setattr(module, name, func)
        if hasattr(package, name):
            setattr(package, name, func)
        if name in getattr(package, 'corruption_dict', {}):
            package.corruption_dict[name] = func
    for attr in ('corruption_tuple', 'robustness_tuple'):
        funcs = getattr(package, attr, None)
        if funcs is not None:
            setattr(package, attr,
                    tuple(fixed.get(f.__name__, f) for f in funcs))
    dict_attr = getattr(package, 'robustness_dict', None)
    if isinstance(dict_attr, dict):
        for name, func in fixed.items():
            if name in dict_attr:
                dict_attr[name] = func


def load_imagecorruptions() -> types.ModuleType:
    """Import ``imagecorruptions`` with the compatibility fixes installed.

    Returns the package module. Safe to call many times and from several
    threads; the work is done once per process.
    """
    with _LOCK:
        if 'package' in _STATE:
            return _STATE['package']
        package = _import_package()
        module = package.corruptions
        fixed: Dict[str, Callable] = {}
        if _gaussian_needs_shim():
            shim = _make_gaussian_shim()
            for name in ('glass_blur', 'gaussian_blur'):
                func = getattr(module, name)
                if not getattr(func, '__stl_mm_compat__', False):
                    fixed[name] = _rebind(func, gaussian=shim)
        if not hasattr(np, 'float_') and hasattr(module, 'plasma_fractal'):
            plasma = module.plasma_fractal
            if not getattr(plasma, '__stl_mm_compat__', False):
                plasma = _rebind(plasma, np=_ModuleView(np, float_=np.float64))
                fixed['plasma_fractal'] = plasma
                fixed['fog'] = _rebind(module.fog, plasma_fractal=plasma)
        _install(package, fixed)

        table = {name: getattr(module, name) for name in ALL_CORRUPTIONS}
        if _random_noise_is_unseeded():
            table['impulse_noise'] = _rebind(
                module.impulse_noise, sk=_make_seeded_sk(module.sk))
        _STATE['package'] = package
        _STATE['table'] = table
        _STATE['patched'] = tuple(fixed)
        return package


def patched_functions() -> tuple:
    """Names of the package functions replaced by this module."""
    load_imagecorruptions()
    return _STATE['patched']


def get_corruption_function(name: str) -> Callable:
    """The corruption function ``name`` (fixed where needed).

    It takes a PIL image or an RGB ``uint8`` array and a severity, and
    returns a float array in [0, 255] as the package's functions do.
    """
    if name not in ALL_CORRUPTIONS:
        resolve_corruptions([name])  # raises with a helpful message
    load_imagecorruptions()
    return _STATE['table'][name]


@contextlib.contextmanager
def numpy_seed(seed: Optional[int]):
    """Seed numpy's global random state inside the block, then restore it.

    ``seed=None`` leaves the global state alone.
    """
    if seed is None:
        yield
        return
    state = np.random.get_state()
    np.random.seed(int(seed) % (2**32))
    try:
        yield
    finally:
        np.random.set_state(state)


def corruption_seed(key: str, corruption: str, severity: int,
                    base_seed: int = 0) -> int:
    """A 32-bit seed from an image key, the corruption and the severity.

    Uses SHA-256, so it is stable across processes, machines and Python
    versions (unlike ``hash``).
    """
    text = f'{key}\x00{corruption}\x00{int(severity)}\x00{int(base_seed)}'
    digest = hashlib.sha256(text.encode('utf-8')).digest()
    return int.from_bytes(digest[:4], 'little')


def corrupt(image: np.ndarray,
            corruption: str,
            severity: int,
            seed: Optional[int] = None) -> np.ndarray:
    """Corrupt an RGB ``uint8`` image (H, W, 3) or a grayscale (H, W) one.

    Same contract as ``imagecorruptions.corrupt`` (height and width at least
    32 pixels, severity 1..5 for the standard set), but uses the fixed
    functions, optionally seeds numpy's global random state for this call
    only, and always returns an array of the input's height and width.

    Returns:
        np.ndarray: ``uint8`` (H, W, 3) RGB (grayscale input is returned as
        three equal channels, like the package does).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError('corrupt() expects a uint8 numpy array, got '
                        f'{type(image).__name__} '
                        f'{getattr(image, "dtype", "")}.')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError('corrupt() expects an (H, W), (H, W, 1) or (H, W, 3)'
                         f' image, got shape {image.shape}.')
    height, width = image.shape[:2]
    if height < 32 or width < 32:
        raise ValueError('imagecorruptions needs images of at least 32x32 '
                         f'pixels, got {height}x{width}.')
    if int(severity) != severity or not 1 <= int(severity) <= 5:
        raise ValueError(f'severity must be an integer in 1..5, got '
                         f'{severity!r}.')
    func = get_corruption_function(corruption)
    from PIL import Image
    with numpy_seed(seed):
        out = func(Image.fromarray(np.ascontiguousarray(image)),
                   int(severity))
    out = np.asarray(out)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    if out.shape[:2] != (height, width):
        raise RuntimeError(
            f'{corruption} (severity {severity}) returned shape {out.shape} '
            f'for an input of shape {image.shape}.')
    # same conversion as imagecorruptions.corrupt (values are in [0, 255])
    return np.uint8(out)
