from .two_view import (AddTeacherView, TwoViewRandAugment,  # noqa: F401
                       TwoViewSpatial)
from .corruption import ImageCorruption  # noqa: F401
from .crop import RandomResizedCropAndInterpolation  # noqa: F401
from .token_label_map import (LoadTokenLabelMap,  # noqa: F401
                              RandomFlipWithCoords,
                              RandomResizedCropWithCoords)
from .token_label_randaug import RandAugmentWithLabelMap  # noqa: F401
from .loading import LoadImageFromFile  # noqa: F401
