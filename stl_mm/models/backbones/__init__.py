from .fan import FAN
from .fan_swin import FANSwin
from .lvvit import LVViT

__all__ = ['FAN', 'FANSwin', 'LVViT']
