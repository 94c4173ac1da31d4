from .stl_classifier import FrozenTeacher, STLClassifier
from .token_label_classifier import TokenLabelClassifier

__all__ = ['STLClassifier', 'FrozenTeacher', 'TokenLabelClassifier']
