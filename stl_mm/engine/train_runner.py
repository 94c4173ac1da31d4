"""Build and run a guarded training Runner from a config (the package call
behind ``tools/train.py``, also used by the demo and the own-data workflow).
"""
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .runtime import check_preprocessor_layout, init_cpu_distributed
from .train_setup import prepare_training

__all__ = ['build_train_runner', 'run_train']


def build_train_runner(cfg: Config, launcher: str = 'none') -> Runner:
    """A Runner for ``cfg`` with the stl_mm guards
    (:func:`~stl_mm.engine.prepare_training`) and CPU-capable distributed
    set-up. ``cfg.work_dir`` must be set; ``cfg`` is adjusted in place."""
    check_preprocessor_layout(cfg)
    cfg.launcher = launcher
    prepare_training(cfg)
    init_cpu_distributed(cfg, launcher)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def run_train(cfg: Config, launcher: str = 'none') -> Runner:
    """Train ``cfg`` to the end; returns the finished Runner (its
    ``work_dir``, ``message_hub`` and hooks hold the results)."""
    runner = build_train_runner(cfg, launcher)
    runner.train()
    return runner
