"""Re-exports: the FAN checkpoint helpers' old home.

File formats are read by :mod:`stl_mm.utils.checkpoint_reader`; the
FAN-specific parts (layout conversion, old spellings, variant matching)
live next to the model in :mod:`stl_mm.models.backbones.fan`.
"""
from stl_mm.models.backbones.fan import (  # noqa: F401
    OPTIONAL_BACKBONE_PREFIXES, CheckpointMismatchError, check_fits_model,
    check_state_matches, describe_checkpoint, find_matching_arch,
    load_fan_checkpoint, nearest_arch, to_classifier_format,
    upstream_to_classifier)
from stl_mm.utils.checkpoint_reader import (  # noqa: F401
    BACKBONE_PREFIX, extract_state_dict)
from stl_mm.utils.checkpoint_reader import \
    classifier_to_timm as classifier_to_upstream  # noqa: F401

__all__ = [
    'load_fan_checkpoint', 'upstream_to_classifier', 'classifier_to_upstream',
    'find_matching_arch', 'check_state_matches', 'extract_state_dict',
    'to_classifier_format', 'nearest_arch', 'CheckpointMismatchError',
    'describe_checkpoint', 'check_fits_model'
]
