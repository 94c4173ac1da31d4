"""RandAugment whose geometric ops replay their random draws elsewhere.

Two pipelines need the geometric RandAugment ops (Rotate / Shear /
Translate) of mmpretrain's ``RandAugment`` applied once more, with the very
same random decisions, to something other than the image:

- the STL teacher view (``TwoViewRandAugment``: the same op on a second
  image), and
- an offline token-label map (``RandAugmentWithLabelMap``: the upstream
  label warp of the op's realised angle / factor / offset).

:class:`ReplayRandAugment` is that one mechanism: each chosen op runs as in
mmpretrain; a geometric one runs inside mmcv's ``cache_random_params``, so
that everything its ``cache_randomness`` methods drew for the image
(apply or not, magnitude, sign) is returned again to :meth:`replay`, which a
subclass implements. :func:`realized_geometry` reads those cached draws in
timm's terms.
"""
from typing import Dict, Optional, Sequence, Tuple

from mmcv.transforms.utils import cache_random_params
from mmpretrain.datasets.transforms import RandAugment

__all__ = ['ReplayRandAugment', 'SPATIAL_RANDAUG_OPS', 'realized_geometry',
           'dedupe_random_methods']

# mmpretrain's geometric RandAugment ops (Shear / Translate cover the X and Y
# variants through their ``direction``); every other op is photometric.
SPATIAL_RANDAUG_OPS = ('Rotate', 'Shear', 'Translate')


def dedupe_random_methods(transform) -> None:
    """Work around an mmcv ``cache_randomness`` bug, in place.

    ``cache_randomness.__set_name__`` appends the method name to the
    ``_methods_with_randomness`` list it finds on the class, and that list
    may be the *parent's* (inherited) one: a subclass that re-decorates the
    method appends it again. mmpretrain's ``RandomResizedCrop`` thus lists
    ``rand_crop_params`` twice, ``cache_random_params`` wraps the method
    twice with its invocation counter, and every shared-parameter call fails
    with "... has been invoked 2 times". Giving each wrapped instance its
    own de-duplicated list (an instance attribute shadows the class one;
    caching itself is keyed by method name) restores the intended
    behaviour without touching the classes.
    """
    names = getattr(transform, '_methods_with_randomness', None)
    if names is not None:
        transform._methods_with_randomness = list(dict.fromkeys(names))
    children = getattr(transform, 'transforms', None)
    if children is not None and hasattr(children, '__iter__'):
        for child in children:
            if child is not transform:
                dedupe_random_methods(child)


def _op_name(policy: dict) -> str:
    return str(policy['type']).split('.')[-1]


def realized_geometry(op) -> Optional[Tuple[str, float]]:
    """What a geometric op just did to the image, in timm's terms.

    Call it inside the ``cache_random_params(op)`` context in which ``op``
    ran (its random draws are then returned again, not re-drawn). Returns
    ``None`` when the op was skipped (its ``prob``), else ``(name, arg)``
    with timm's ``auto_augment`` names and arguments (PIL conventions):

    - ``('Rotate', degrees)``: counter-clockwise (mmcv's angle is
      clockwise: ``degrees = -angle``);
    - ``('ShearX' | 'ShearY', factor)``: output pixel ``(x, y)`` reads input
      ``x + factor * y`` (ShearX) / ``y + factor * x`` (ShearY); mmcv's
      matrix maps input to output, so ``factor = -magnitude``;
    - ``('TranslateXRel' | 'TranslateYRel', pct)``: output reads input
      ``x + pct * width`` (``y + pct * height``); mmcv moves the content by
      ``+magnitude * size``, so ``pct = -magnitude``.
    """
    if op.random_disable():
        return None
    name = type(op).__name__
    fixed = op.angle if name == 'Rotate' else op.magnitude
    value = op.random_negative(
        fixed if fixed is not None else op.random_magnitude())
    value = float(value)
    if name == 'Rotate':
        if op.center is not None or op.scale != 1.0:
            raise ValueError('Rotate with a custom center or scale has no '
                             'upstream label-map counterpart; use the '
                             'defaults (image centre, scale 1).')
        return 'Rotate', -value
    axis = 'X' if op.direction == 'horizontal' else 'Y'
    if name == 'Shear':
        return f'Shear{axis}', -value
    if name == 'Translate':
        return f'Translate{axis}Rel', -value
    raise TypeError(f'{name} is not one of the geometric RandAugment ops '
                    f'{SPATIAL_RANDAUG_OPS}.')


class ReplayRandAugment(RandAugment):
    """mmpretrain ``RandAugment`` that replays its geometric ops.

    The ops are chosen once per sample (the parent's random choice) and run
    on ``results['img']`` in order; after each geometric one (``spatial_ops``)
    :meth:`replay` gets the op while its random draws are still cached.

    Args:
        spatial_ops: op type names treated as geometric.
        Other arguments: as :class:`mmpretrain.datasets.RandAugment`.
    """

    def __init__(self, *args,
                 spatial_ops: Sequence[str] = SPATIAL_RANDAUG_OPS, **kwargs):
        super().__init__(*args, **kwargs)
        self.spatial_ops = tuple(spatial_ops)
        self.spatial_indices = frozenset(
            index for index, policy in enumerate(self.policies)
            if _op_name(policy) in self.spatial_ops)
        for index in self.spatial_indices:
            dedupe_random_methods(self.transforms[index])

    def check(self, results: Dict) -> None:
        """Refuse results the replay cannot handle (before any op)."""

    def replay(self, op, results: Dict) -> Dict:
        """Apply the geometric ``op`` (its draws cached) to the companion."""
        raise NotImplementedError

    def transform(self, results: Dict) -> Dict:
        self.check(results)
        for index in self.random_policy_indices():
            op = self.transforms[index]
            if index in self.spatial_indices:
                with cache_random_params(op):
                    results = op(results)
                    results = self.replay(op, results)
            else:
                results = op(results)
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', spatial_ops={self.spatial_ops})'
