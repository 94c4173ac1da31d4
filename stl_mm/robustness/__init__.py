"""Robustness evaluation, the parts that need no model and no registry.

- :mod:`.corruptions`: the ImageNet-C corruption vocabulary, the fixed
  ``imagecorruptions`` functions and per-image seeding;
- :mod:`.imagenet_c`: CE/mCE arithmetic (AlexNet-normalised errors);
- :mod:`.ood_subsets`: the ImageNet-A/-R class subsets;
- :mod:`.corrupted_dataset`: writing -C copies of a dataset;
- :mod:`.sweep`: bookkeeping of segmentation/detection -C sweeps;
- :mod:`.report`: bookkeeping and table of the classifier report.

The registered datasets, transform and metrics that use them live in
``stl_mm.datasets`` and ``stl_mm.evaluation``; the runs in
``stl_mm.apis.robustness``.
"""
from .corruptions import (ALL_CORRUPTIONS, COMMON_CORRUPTIONS,
                          EXTRA_CORRUPTIONS, corrupt, corruption_seed,
                          resolve_corruptions)

__all__ = [
    'ALL_CORRUPTIONS', 'COMMON_CORRUPTIONS', 'EXTRA_CORRUPTIONS', 'corrupt',
    'corruption_seed', 'resolve_corruptions'
]
