from . import backbones  # noqa: F401
from . import utils  # noqa: F401
from . import classifiers  # noqa: F401
from . import heads  # noqa: F401
