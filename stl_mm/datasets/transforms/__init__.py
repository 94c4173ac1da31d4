from .two_view import (AddTeacherView, TwoViewRandAugment,  # noqa: F401
                       TwoViewSpatial)
from .corruption import ImageCorruption  # noqa: F401
from .loading import LoadImageFromFile  # noqa: F401
