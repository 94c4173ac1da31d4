from .config import inference_model_cfg, load_model_config
from .inference import inference_model, init_model
from .model_zoo import VARIANT_CONFIGS, variant_config
from .token_labels import (NotATokenModelError, find_demo_mask,
                           token_label_records, token_label_stats,
                           visualize_token_labels)

__all__ = [
    'init_model', 'inference_model', 'VARIANT_CONFIGS', 'variant_config',
    'load_model_config', 'inference_model_cfg', 'NotATokenModelError',
    'token_label_records', 'token_label_stats', 'visualize_token_labels',
    'find_demo_mask'
]
