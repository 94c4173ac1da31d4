from setuptools import find_packages, setup


def read_requirements(path):
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


version = {}
with open('stl_mm/version.py') as f:
    exec(f.read(), version)

setup(
    name='stl_mm',
    version=version['__version__'],
    description='FAN backbones and Self-emerging Token Labeling (STL) '
    'for OpenMMLab 2.x',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    package_data={'stl_mm': ['datasets/*.json']},
    python_requires='>=3.9',
    install_requires=read_requirements('requirements/runtime.txt') +
    ['mmcv>=2.0.0,<2.2.0'],
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'deploy': read_requirements('requirements/deploy.txt'),
    },
    license='Apache-2.0',
)
