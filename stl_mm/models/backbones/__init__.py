from .fan import FAN
from .fan_swin import FANSwin

__all__ = ['FAN', 'FANSwin']
