"""Figures: token-label maps of STL token models."""
from .token_labels import (NotATokenModelError, draw_confidence_histogram,
                           draw_token_label_figure, find_demo_mask,
                           token_label_records, token_label_stats,
                           visualize_token_labels)

__all__ = [
    'NotATokenModelError', 'token_label_records', 'token_label_stats',
    'draw_token_label_figure', 'draw_confidence_histogram',
    'visualize_token_labels', 'find_demo_mask'
]
