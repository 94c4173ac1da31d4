from .fan import FAN

__all__ = ['FAN']
