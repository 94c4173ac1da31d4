"""Figures (drawing only): token-label maps of STL token models, and the
confusion matrix, ROC curves and training curves of a classification
report."""
from .report import (draw_confusion_matrix, draw_roc_curves,
                     draw_training_curves)
from .token_labels import draw_confidence_histogram, draw_token_label_figure

__all__ = ['draw_token_label_figure', 'draw_confidence_histogram',
           'draw_confusion_matrix', 'draw_roc_curves', 'draw_training_curves']
