"""Figures: token-label maps of STL token models (drawing only)."""
from .token_labels import draw_confidence_histogram, draw_token_label_figure

__all__ = ['draw_token_label_figure', 'draw_confidence_histogram']
