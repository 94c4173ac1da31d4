from .inference import inference_model, init_model
from .model_zoo import VARIANT_CONFIGS, variant_config

__all__ = ['init_model', 'inference_model', 'VARIANT_CONFIGS',
           'variant_config']
