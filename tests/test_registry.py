"""stl_mm modules are reachable as ``stl_mm.X`` from all three libraries."""
import subprocess
import sys
import textwrap

import pytest

TINY_FAN = "dict(embed_dims=32, depth=1, num_heads=2, stem='conv')"


@pytest.mark.parametrize('library', ['mmpretrain', 'mmseg', 'mmdet'])
def test_fan_builds_from_each_library_without_importing_stl_mm(library):
    """A fresh interpreter that never imports stl_mm itself: mmengine must
    find the ``stl_mm`` scope on its own (no custom_imports)."""
    code = textwrap.dedent(f"""
        import sys
        from mmengine.registry import DefaultScope
        from {library}.registry import MODELS
        DefaultScope.get_instance('t', scope_name='{library}')
        assert 'stl_mm' not in sys.modules
        model = MODELS.build(dict(type='stl_mm.FAN', arch={TINY_FAN}))
        print(type(model).__module__, type(model).__name__)
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ['stl_mm.models.backbones.fan', 'FAN']


def test_registries_are_children_of_mmengine_roots():
    from mmengine import registry as root

    import stl_mm.registry as ours
    for name in ours.__all__:
        child = getattr(ours, name)
        assert child.scope == 'stl_mm'
        assert child.parent is getattr(root, name)


def test_register_all_modules_sets_the_default_scope():
    from mmengine.registry import DefaultScope

    from stl_mm.registry import MODELS, OPTIM_WRAPPERS
    from stl_mm.utils import register_all_modules
    register_all_modules(default_scope='mmpretrain')
    assert DefaultScope.get_current_instance().scope_name == 'mmpretrain'
    assert MODELS.get('FAN') is not None
    assert OPTIM_WRAPPERS.get('AutocastOptimWrapper') is not None
