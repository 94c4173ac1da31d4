from .robustness import ImageNetCMetric, OODSubsetMetric

__all__ = ['ImageNetCMetric', 'OODSubsetMetric']
