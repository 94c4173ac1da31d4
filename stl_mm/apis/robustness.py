"""Robustness runs: a checkpoint on corrupted and out-of-distribution sets.

- :func:`robustness_report`: a classifier on ImageNet val, -C, -A and -R
  (the settings of ``configs/robustness/_base_/<set>.py`` replace the model
  config's test data and evaluator), one table.
- :func:`corruption_sweep`: a segmentation or detection checkpoint on every
  (corruption, severity) copy of its test set (Cityscapes-C / COCO-C),
  generating missing copies on demand, resumable, with a summary table.

Every evaluation is one :func:`stl_mm.engine.run_test`; the bookkeeping is
in :mod:`stl_mm.robustness.report` and :mod:`stl_mm.robustness.sweep`.
"""
import copy
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config
from mmengine.dist import barrier, get_rank

from stl_mm.engine import init_distributed, run_test
from stl_mm.engine.test_runner import unique_experiment_name
from stl_mm.robustness import report, sweep
from stl_mm.robustness.corrupted_dataset import write_corrupted_dataset
from stl_mm.robustness.corruptions import ALL_CORRUPTIONS
from stl_mm.utils.resources import find_config

__all__ = [
    'robustness_config', 'evaluate_robustness_set', 'robustness_report',
    'SweepSettings', 'corruption_sweep', 'run_sweep', 'summarise_sweep'
]


def _log(message: str) -> None:
    if get_rank() == 0:
        print(message, flush=True)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file not found: "{path}"')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


# --------------------------------------------------------------------------
# the classifier report (IN-1K, IN-C, IN-A, IN-R)
# --------------------------------------------------------------------------
def robustness_config(model_config: str, set_name: str, data_root: str,
                      work_dir: str, cfg_options=None) -> Config:
    """The model config with the test settings of ``set_name``."""
    cfg = Config.fromfile(model_config)
    base = Config.fromfile(str(find_config(
        f'robustness/_base_/{report.BASE_CONFIGS[set_name]}')))
    cfg.test_dataloader = base.robustness_test_dataloader
    cfg.test_evaluator = base.robustness_test_evaluator
    cfg.test_dataloader.pop('_delete_', None)
    cfg.test_evaluator.pop('_delete_', None)
    dataset = cfg.test_dataloader.dataset
    dataset.data_root = data_root
    if set_name == 'imagenet-1k' and not osp.isdir(
            osp.join(data_root, str(dataset.get('data_prefix', '')))):
        dataset.data_prefix = ''  # the root given is the val folder itself
    if set_name != 'imagenet-1k':
        cfg.test_evaluator.output_prefix = osp.join(work_dir, set_name)
    if cfg.get('test_cfg') is None:
        cfg.test_cfg = dict()
    cfg.work_dir = osp.join(work_dir, set_name)
    head = cfg.model.get('head') or {}
    if str(head.get('type', '')).endswith('TokenLabelHead'):
        # the protocol of the published numbers (NVlabs/STL validate_ood.py)
        head['fusion'] = report.DEFAULT_TOKEN_FUSION
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def head_fusion(cfg: Config) -> str:
    """The prediction rule of a composed config's head (``'cls'`` for
    heads without a fusion option)."""
    return (cfg.model.get('head') or {}).get('fusion', 'cls')


def evaluate_robustness_set(config: str, checkpoint: str, set_name: str,
                            data_root: str, work_dir: str,
                            cfg_options=None, launcher: str = 'none',
                            dump_config: bool = False) -> dict:
    """Evaluate one set; its metrics go to ``WORK_DIR/<set>.metrics.json``."""
    cfg = robustness_config(config, set_name, data_root, work_dir,
                            cfg_options)
    if dump_config:
        os.makedirs(work_dir, exist_ok=True)
        cfg.dump(osp.join(work_dir, f'{set_name}_config.py'))
    metrics = run_test(cfg, checkpoint, launcher=launcher,
                       experiment_name=unique_experiment_name(set_name))
    metrics['fusion'] = head_fusion(cfg)
    if get_rank() == 0:
        report.save_set_metrics(work_dir, set_name, dict(
            set=set_name, data_root=data_root, config=config,
            checkpoint=checkpoint, metrics=metrics))
    return metrics


def robustness_report(config: str,
                      checkpoint: Optional[str] = None,
                      roots: Optional[Dict[str, Optional[str]]] = None,
                      work_dir: Optional[str] = None,
                      collect: bool = False,
                      name: Optional[str] = None,
                      cfg_options=None,
                      launcher: str = 'none',
                      dump_configs: bool = False
                      ) -> Tuple[Dict[str, dict], Optional[str]]:
    """Evaluate (or, ``collect=True``, read) every set and write the table.

    Args:
        roots: set name (:data:`stl_mm.robustness.report.SETS`) -> data
            root; sets without a root are skipped (shown as a dash).
        work_dir: default ``work_dirs/robustness/<config name>``.

    Returns:
        ``(results, table)``: metrics per set, and the Markdown table
        (``None`` on ranks other than 0).
    """
    if work_dir is None:
        work_dir = osp.join('work_dirs', 'robustness',
                            osp.splitext(osp.basename(config))[0])
    roots = {s: (roots or {}).get(s) for s in report.SETS}
    if collect:
        results = report.collect(work_dir)
        if not results:
            raise FileNotFoundError(
                f'No *.metrics.json results in "{work_dir}".')
    else:
        if not any(roots.values()):
            raise ValueError('Give at least one of --imagenet-root, '
                             '--imagenet-c-root, --imagenet-a-root, '
                             '--imagenet-r-root.')
        for set_name, root in roots.items():
            if root and not osp.isdir(root):
                raise FileNotFoundError(
                    f'{set_name} root not found: "{root}"')
        results = {}
        for set_name in report.SETS:
            if roots[set_name]:
                results[set_name] = evaluate_robustness_set(
                    config, checkpoint, set_name, roots[set_name], work_dir,
                    cfg_options, launcher, dump_configs)
    if get_rank() != 0:
        return results, None
    name = name or osp.splitext(osp.basename(config))[0]
    table = report.write_report(work_dir, name, results, config, checkpoint)
    return results, table


# --------------------------------------------------------------------------
# segmentation / detection -C sweeps
# --------------------------------------------------------------------------
@dataclass
class SweepSettings:
    """What a corruption sweep evaluates (the options of
    ``tools/corruption_sweep.py``)."""
    config: str
    task: str
    checkpoint: Optional[str] = None
    corrupted_root: Optional[str] = None
    clean_root: Optional[str] = None
    corruptions: Optional[List[str]] = None
    severities: Optional[List[int]] = None
    eval_clean: bool = False
    work_dir: Optional[str] = None
    collect: bool = False
    force: bool = False
    seed: int = 0
    workers: int = 1
    labels: str = 'link'
    amp: bool = False
    cfg_options: Optional[dict] = None
    launcher: str = 'none'

    def __post_init__(self):
        if self.work_dir is None:
            name = osp.splitext(osp.basename(self.config))[0]
            self.work_dir = osp.join('work_dirs', 'corruption_sweep', name)


def compose_config(s: SweepSettings, base_cfg: Config, data_root: str,
                   name: str) -> Config:
    """The config that evaluates the checkpoint on ``data_root``."""
    cfg = copy.deepcopy(base_cfg)
    sweep.point_test_set_at(cfg, data_root, s.task)
    cfg.work_dir = osp.join(s.work_dir, 'runs', name)
    return cfg


def evaluate(s: SweepSettings, cfg: Config, name: str) -> dict:
    """One pair's metrics (plain floats)."""
    return run_test(cfg, s.checkpoint, launcher=s.launcher, amp=s.amp,
                    experiment_name=unique_experiment_name(name))


def generate(s: SweepSettings, split: str, pending) -> None:
    """Write the missing corrupted images of the pending pairs (one
    :func:`write_corrupted_dataset` per corruption)."""
    if not pending:
        return
    if not osp.isdir(s.clean_root):
        raise FileNotFoundError(f'Clean root not found: "{s.clean_root}"')
    by_corruption = {}
    for corruption, severity in pending:
        by_corruption.setdefault(corruption, []).append(severity)
    layout = sweep.TASKS[s.task]['layout']
    for corruption, severities in by_corruption.items():
        _log(f'generating {corruption} severities {severities} from '
             f'{s.clean_root} ...')
        result = write_corrupted_dataset(
            s.clean_root, s.corrupted_root, [corruption], sorted(severities),
            layout=layout, splits=[split], labels=s.labels, seed=s.seed,
            workers=s.workers, progress=False, log=_log)
        if result.status:
            problems = result.failed or [
                f'unreadable: {r}' for r in result.unreadable]
            raise RuntimeError(
                f'Writing the corrupted copies failed for {corruption}: '
                + '; '.join(problems[:5]))


def _show(record: dict, task: str) -> str:
    parts = []
    for title, key, scale in sweep.TASKS[task]['metrics']:
        value = record['metrics'].get(key)
        parts.append(f'{title} {value * scale:.2f}' if isinstance(
            value, float) else f'{title} —')
    return ', '.join(parts)


def run_sweep(s: SweepSettings) -> None:
    """Evaluate every pair that has no stored result (all with
    ``force``)."""
    cfg = load_config(s.config, s.cfg_options)
    init_distributed(cfg, s.launcher)
    keys = [key for _, key, _ in sweep.TASKS[s.task]['metrics']]
    split = sweep.test_split(cfg, s.task)

    jobs = []  # (corruption, severity, data_root)
    if s.eval_clean:
        clean_root = s.clean_root or sweep.test_dataset(cfg).data_root
        jobs.append((sweep.CLEAN, None, clean_root))
    jobs += [(c, sev, sweep.pair_root(s.corrupted_root, c, sev))
             for c in s.corruptions for sev in s.severities]

    todo = []
    for corruption, severity, root in jobs:
        record = sweep.load_result(
            sweep.result_file(s.work_dir, corruption, severity))
        if s.force or not sweep.is_done(record, s.checkpoint, keys):
            todo.append((corruption, severity, root))

    pending = [(c, sev) for c, sev, _ in todo if c != sweep.CLEAN]
    if s.clean_root:
        if get_rank() == 0:
            generate(s, split, pending)
        barrier()
    else:
        missing = [root for c, _, root in todo
                   if c != sweep.CLEAN and not osp.isdir(root)]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} corrupted dataset root(s) do not exist, '
                f'e.g. "{missing[0]}". Generate them with '
                'tools/make_corrupted_dataset.py --layout '
                f'{sweep.TASKS[s.task]["layout"]}, or pass --clean-root '
                'to generate them on demand.')

    total = len(jobs)
    for index, (corruption, severity, root) in enumerate(jobs, 1):
        name = sweep.pair_name(corruption, severity)
        path = sweep.result_file(s.work_dir, corruption, severity)
        if (corruption, severity, root) not in todo:
            record = sweep.load_result(path)
            _log(f'[{index}/{total}] {name}: stored '
                 f'({_show(record, s.task)})')
            continue
        _log(f'[{index}/{total}] {name}: evaluating {root}')
        metrics = evaluate(s, compose_config(s, cfg, root, name), name)
        record = dict(corruption=corruption, severity=severity,
                      data_root=root, config=s.config,
                      checkpoint=osp.abspath(s.checkpoint),
                      metrics=metrics)
        if get_rank() == 0:
            sweep.save_result(path, record)
        _log(f'[{index}/{total}] {name}: {_show(record, s.task)}')
    barrier()  # every result is on disk before rank 0 summarises


def _stored_corruptions(results) -> list:
    stored = {c for c, _ in results if c != sweep.CLEAN}
    order = {name: i for i, name in enumerate(ALL_CORRUPTIONS)}
    return sorted(stored, key=lambda c: (order.get(c, len(order)), c))


def summarise_sweep(s: SweepSettings) -> Tuple[dict, str]:
    """Summarise the stored results; writes ``summary.json``/``.md``.
    Returns ``(summary, markdown table)``."""
    results = sweep.collect_results(s.work_dir)
    if not results:
        raise FileNotFoundError(
            f'No results in "{osp.join(s.work_dir, sweep.RESULTS_DIR)}".')
    corruptions = s.corruptions or _stored_corruptions(results)
    severities = s.severities or sorted(
        {sev for c, sev in results if c != sweep.CLEAN})
    summary = sweep.summarise(results, corruptions, severities,
                              sweep.TASKS[s.task]['metrics'])
    summary.update(config=s.config, checkpoint=s.checkpoint, task=s.task)
    name = osp.splitext(osp.basename(s.config))[0]
    dataset = 'Cityscapes-C' if s.task == 'seg' else 'COCO-C'
    table = sweep.to_markdown(summary, title=f'{dataset}: {name}')
    os.makedirs(s.work_dir, exist_ok=True)
    with open(osp.join(s.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
        f.write('\n')
    with open(osp.join(s.work_dir, 'summary.md'), 'w') as f:
        f.write(table)
    return summary, table


def corruption_sweep(s: SweepSettings) -> Tuple[dict, Optional[str]]:
    """Evaluate the pending pairs (unless ``collect``) and summarise.

    Returns ``(summary, table)``; ``({}, None)`` on ranks other than 0.
    """
    if not s.collect:
        if not osp.isfile(s.checkpoint):
            raise FileNotFoundError(
                f'Checkpoint file not found: "{s.checkpoint}"')
        run_sweep(s)
    if get_rank() != 0:
        return {}, None
    return summarise_sweep(s)
