from .fan_checkpoint import (check_state_matches, classifier_to_upstream,
                             extract_state_dict, find_matching_arch,
                             load_fan_checkpoint, nearest_arch,
                             to_classifier_format, upstream_to_classifier)

__all__ = [
    'load_fan_checkpoint', 'upstream_to_classifier', 'classifier_to_upstream',
    'find_matching_arch', 'check_state_matches', 'extract_state_dict',
    'to_classifier_format', 'nearest_arch'
]
from .batch_erasing import BatchRandomErasing  # noqa: E402
from .data_preprocessor import STLDataPreprocessor  # noqa: E402
from .token_labels import (generate_token_labels,  # noqa: E402
                           mix_token_labels)
from .token_mix import MixParams, TokenMix  # noqa: E402

__all__ += [
    'STLDataPreprocessor', 'generate_token_labels', 'mix_token_labels',
    'MixParams', 'TokenMix', 'BatchRandomErasing'
]
