from . import metrics  # noqa: F401
from .classification_report import (classification_report,
                                    format_per_class_table,
                                    predictions_to_arrays, training_curves)

__all__ = ['classification_report', 'format_per_class_table',
           'predictions_to_arrays', 'training_curves']
