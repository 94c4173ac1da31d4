"""The error type for mistakes a user can fix (a bad file, a bad option).

Errors of this type carry a complete message naming what is wrong and what
to do; the tools print it alone (``stl_mm.utils.cli``: ``error: ...``, exit
status 2) instead of a traceback. It derives from ``ValueError`` so that
callers catching bad-value errors keep working, and its constructor takes
the message only, because mmengine's builders re-raise errors as
``type(error)(prefix + message)``.
"""

__all__ = ['UserError']


class UserError(ValueError):
    """Bad input or configuration; the message says what to change."""

    user_facing = True
