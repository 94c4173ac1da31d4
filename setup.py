import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
#: what an installed package carries in stl_mm/.mim (the OpenMMLab layout
#: that mim train/test/run, mmpretrain's model hub and
#: stl_mm.utils.resources read)
MIM_FILES = ('configs', 'tools', 'model-index.yml')


class BuildPyWithMim(build_py):
    """build_py that also copies configs/, tools/ and model-index.yml into
    the built package's ``stl_mm/.mim/`` (wheels, ``pip install .``).

    Written here instead of mmpretrain's ``add_mim_extension`` (which copies
    into the source tree before ``setup()``): the copies go straight into
    the build folder, so a checkout never holds a stale ``.mim``. Editable
    installs need none: stl_mm then finds configs/ next to the package.
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = os.path.join(self.build_lib, 'stl_mm', '.mim')
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        for name in MIM_FILES:
            src = os.path.join(HERE, name)
            dst = os.path.join(target, name)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                    '__pycache__', '*.pyc'))
            else:
                shutil.copy2(src, dst)


def read_requirements(name):
    with open(os.path.join(HERE, 'requirements', name)) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


version = {}
with open(os.path.join(HERE, 'stl_mm', 'version.py')) as f:
    exec(f.read(), version)

setup(
    name='stl_mm',
    version=version['__version__'],
    description='FAN backbones and Self-emerging Token Labeling (STL) '
    'for OpenMMLab 2.x',
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    package_data={'stl_mm': ['datasets/*.json']},
    cmdclass={'build_py': BuildPyWithMim},
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt') +
    ['mmcv>=2.0.0,<2.2.0'],
    extras_require={
        'tests': read_requirements('tests.txt'),
        # optional logging backends (vis_backends in the runtime configs)
        'tensorboard': read_requirements('tensorboard.txt'),
        'wandb': read_requirements('wandb.txt'),
        # ONNX export and the standalone runtime
        'deploy': read_requirements('deploy.txt'),
        # own-data workflow: ROC/AUC (scikit-learn), Sophia optimizer
        'custom': read_requirements('custom.txt'),
        # benchmark peers (timm)
        'bench': read_requirements('bench.txt'),
        # mim train/test/run stl_mm ... (see requirements/mim.txt)
        'mim': read_requirements('mim.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
