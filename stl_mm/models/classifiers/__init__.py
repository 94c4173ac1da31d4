from .stl_classifier import FrozenTeacher, STLClassifier

__all__ = ['STLClassifier', 'FrozenTeacher']
