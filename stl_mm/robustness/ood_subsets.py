"""The ImageNet class subsets of the OOD test sets (ImageNet-A, -R).

``imagenet_ood_subsets.json`` (package data, a copy of the project's shared
spec file) holds the 1000 sorted ImageNet-1k wnids and, for ImageNet-A and
ImageNet-R, their 200 wnids (label order) and each one's index among the
1000 classes. No registry, no model.
"""
import json
import os.path as osp
from functools import lru_cache
from typing import List

__all__ = [
    'SUBSETS_FILE', 'load_ood_subsets', 'imagenet_wnids', 'subset_wnids',
    'subset_indices'
]

#: The package's copy of the shared ``imagenet_ood_subsets.json``.
SUBSETS_FILE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                        'datasets', 'imagenet_ood_subsets.json')

_SUBSET_KEYS = {'imagenet_a': 'imagenet_a', 'imagenet_r': 'imagenet_r'}


@lru_cache(maxsize=None)
def load_ood_subsets(path: str = SUBSETS_FILE) -> dict:
    """The subsets JSON: ``imagenet1k_wnids_sorted`` and, for ``imagenet_a``
    and ``imagenet_r``, ``<name>_wnids`` and ``<name>_indices_in_1k``."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} is missing: it is package data of stl_mm (reinstall '
            'the package, or install it with its data files).')
    with open(path) as f:
        return json.load(f)


def imagenet_wnids() -> List[str]:
    """The 1000 ImageNet-1k wnids, sorted (= the standard class order)."""
    return list(load_ood_subsets()['imagenet1k_wnids_sorted'])


def _subset_key(name: str) -> str:
    key = name.lower().replace('-', '_')
    if key not in _SUBSET_KEYS:
        raise ValueError(f'Unknown subset "{name}"; expected one of '
                         f'{", ".join(_SUBSET_KEYS)}.')
    return key


def subset_wnids(name: str) -> List[str]:
    """The 200 wnids of ``'imagenet_a'`` or ``'imagenet_r'`` (label order)."""
    return list(load_ood_subsets()[f'{_subset_key(name)}_wnids'])


def subset_indices(name: str) -> List[int]:
    """Per label of ``'imagenet_a'``/``'imagenet_r'``, its 1000-class index."""
    return list(load_ood_subsets()[f'{_subset_key(name)}_indices_in_1k'])
