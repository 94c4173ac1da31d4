from . import transforms  # noqa: F401
from . import robustness  # noqa: F401
