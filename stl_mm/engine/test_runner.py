"""One way to evaluate a checkpoint: build the test Runner and run it.

Used by ``tools/test.py``, the corruption sweep, the robustness report and
the demo. :func:`build_test_runner` sets the config up for testing
(checkpoint, work dir, AMP, launcher), builds mmengine's Runner and checks
the checkpoint against the model with
:func:`stl_mm.engine.checkpoint_check.prepare_checkpoint` (an upstream FAN
``.pth.tar`` is converted to the classifier layout; missing weights are an
error, not a silently random layer). :func:`run_test` also runs the test
loop and returns the metrics as plain Python numbers.
"""
import itertools
import os.path as osp
import time
from typing import Optional

from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .checkpoint_check import prepare_checkpoint
from .runtime import enable_amp, init_distributed

__all__ = ['build_test_runner', 'run_test', 'unique_experiment_name',
           'plain_metrics']

_RUN_IDS = itertools.count()


def unique_experiment_name(name: str) -> str:
    """``name`` made unique in this process: mmengine keys its logger and
    visualizer by the experiment name, so Runners built within one second
    would otherwise share them."""
    return f'{name}_{time.strftime("%Y%m%d_%H%M%S")}_{next(_RUN_IDS)}'


def _setup_amp(cfg: Config) -> None:
    if cfg.get('optim_wrapper') is None:
        cfg.optim_wrapper = dict(type='OptimWrapper',
                                 optimizer=dict(type='SGD', lr=0.))
    enable_amp(cfg)
    cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)


def build_test_runner(cfg: Config,
                      checkpoint: str,
                      work_dir: Optional[str] = None,
                      launcher: str = 'none',
                      amp: bool = False,
                      dump_predictions: Optional[str] = None,
                      experiment_name: Optional[str] = None) -> Runner:
    """A Runner that tests ``checkpoint`` with ``cfg`` (changed in place).

    Args:
        cfg: the config (its test dataloader, evaluator and model).
        checkpoint: the weights file (ours or an upstream FAN file).
        work_dir: overrides ``cfg.work_dir``; one of them must be set.
        launcher: ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        amp: mixed precision inference.
        dump_predictions: a ``.pkl`` file to dump the raw predictions to.
        experiment_name: the Runner's experiment name.

    Raises:
        FileNotFoundError: no checkpoint file.
        ValueError: ``dump_predictions`` is not a pickle file name.
        CheckpointMismatchError: the checkpoint lacks weights of the model.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint file not found: "{checkpoint}"')
    if dump_predictions and not dump_predictions.endswith(
            ('.pkl', '.pickle')):
        raise ValueError('--out-item pred writes a pickle: give --out a '
                         '.pkl file name')
    if work_dir is not None:
        cfg.work_dir = work_dir
    if cfg.get('test_cfg') is None:  # the Runner wants all three test parts
        cfg.test_cfg = dict()
    cfg.load_from = checkpoint
    cfg.resume = False
    if amp:
        _setup_amp(cfg)
    cfg.launcher = launcher
    if experiment_name is not None:
        cfg.experiment_name = experiment_name
    init_distributed(cfg, launcher)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    # upstream .pth.tar files are converted; weights the model lacks are an
    # error rather than a silently random layer
    runner._load_from = prepare_checkpoint(runner.model, checkpoint,
                                           runner.work_dir)
    if dump_predictions:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=dump_predictions))
    return runner


def plain_metrics(metrics: dict) -> dict:
    """numpy/torch scalars -> Python numbers (for JSON)."""
    return {k: _plain(v) for k, v in metrics.items()}


def _plain(value):
    if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return float(value) if isinstance(value, (int, float)) and not \
        isinstance(value, bool) else value


def run_test(cfg: Config, checkpoint: str, **kwargs) -> dict:
    """Build the test Runner (:func:`build_test_runner`, same arguments),
    run its test loop and return the metrics as plain Python numbers."""
    runner = build_test_runner(cfg, checkpoint, **kwargs)
    return plain_metrics(runner.test())
