import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True,
                         default_scope: str = 'mmpretrain') -> None:
    """Import every stl_mm module so that it is in the ``stl_mm`` registries.

    Args:
        init_default_scope: also make ``default_scope`` the current default
            scope, as the OpenMMLab libraries' ``register_all_modules`` do.
        default_scope: the host library whose registries resolve the plain
            (un-prefixed) types of a config: ``'mmpretrain'``, ``'mmseg'`` or
            ``'mmdet'``.
    """
    import stl_mm.datasets  # noqa: F401
    import stl_mm.engine  # noqa: F401
    import stl_mm.evaluation  # noqa: F401
    import stl_mm.models  # noqa: F401
    import stl_mm.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != default_scope:
        if current is not None:
            warnings.warn(f'The current default scope "{current.scope_name}" '
                          f'is replaced by "{default_scope}".')
        name = f'{default_scope}-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name=default_scope)
