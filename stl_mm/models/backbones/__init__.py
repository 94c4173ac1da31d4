from .fan import FAN
from .lvvit import LVViT

__all__ = ['FAN', 'LVViT']
