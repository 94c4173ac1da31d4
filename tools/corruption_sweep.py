"""Evaluate a segmentation or detection checkpoint on corrupted (-C) copies
of its test set: Cityscapes-C (mIoU) or COCO-C (box and mask AP).

    python tools/corruption_sweep.py CONFIG CHECKPOINT --task seg|det \\
        --corrupted-root data/cityscapes-c [--clean-root data/cityscapes] \\
        [--corruptions all] [--severities 1 2 3 4 5] [--work-dir DIR]

For every (corruption, severity) pair the test loop of mmengine's Runner
runs (as in tools/test.py) with the config's test set pointed at
``CORRUPTED_ROOT/<corruption>/<severity>`` (a Cityscapes or COCO root, the
layout ``tools/make_corrupted_dataset.py`` writes). With ``--clean-root``
the missing corrupted images are generated first by calling that tool
(existing files are kept); without it the copies must exist.

Each pair's metrics go to ``WORK_DIR/results/<corruption>_s<severity>.json``;
a pair whose file exists for the same checkpoint is not evaluated again
(the sweep resumes; ``--force`` recomputes). The per-corruption means over
severities and the overall mean (mIoU, or box/mask AP in percent) are
printed as a table and saved as ``WORK_DIR/summary.json`` and
``WORK_DIR/summary.md``. ``--collect`` only summarises the stored results.

Multi-GPU: ``torchrun --nproc_per_node=8 tools/corruption_sweep.py ...
--launcher pytorch`` (rank 0 generates missing images and writes the
results).
"""
import argparse
import copy
import importlib.util
import itertools
import json
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from stl_mm.evaluation import sweep  # noqa: E402
from stl_mm.utils.imagecorruptions_compat import (  # noqa: E402
    resolve_corruptions)

_RUN_IDS = itertools.count()


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Evaluate a segmentation/detection checkpoint on every '
        '(corruption, severity) copy of its test set and summarise.')
    parser.add_argument('config', help='model config (mmseg or mmdet)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (not needed with --collect)')
    parser.add_argument('--task', choices=sorted(sweep.TASKS),
                        required=True,
                        help='seg: Cityscapes-C mIoU; det: COCO-C box and '
                        'mask AP')
    parser.add_argument('--corrupted-root',
                        help='root of the -C copies: '
                        '<root>/<corruption>/<severity>/ is a dataset root')
    parser.add_argument('--clean-root',
                        help='clean dataset root; given, missing corrupted '
                        'images are generated from it '
                        '(tools/make_corrupted_dataset.py)')
    parser.add_argument('--corruptions', nargs='+', default=None,
                        help='names or groups: all (19, the default), '
                        'common (15), extra (4); with --collect the '
                        'default is every corruption with results')
    parser.add_argument('--severities', nargs='+', type=int, default=None,
                        help='default 1 2 3 4 5; with --collect every '
                        'severity with results')
    parser.add_argument('--eval-clean', action='store_true',
                        help='also evaluate the clean set (--clean-root, '
                        'else the config\'s own test root)')
    parser.add_argument('--work-dir', help='results folder (default '
                        'work_dirs/corruption_sweep/<config name>)')
    parser.add_argument('--collect', action='store_true',
                        help='only summarise the results in --work-dir')
    parser.add_argument('--force', action='store_true',
                        help='evaluate pairs that have results already')
    parser.add_argument('--seed', type=int, default=0,
                        help='corruption seed for generated images')
    parser.add_argument('-j', '--workers', type=int, default=1,
                        help='processes generating corrupted images')
    parser.add_argument('--labels', choices=['link', 'copy'],
                        default='link',
                        help='generated copies: link (default) or copy the '
                        'labels/annotations')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision inference')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config for every '
                        'pair, key=value pairs')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.corruptions is not None or not args.collect:
        try:
            args.corruptions = resolve_corruptions(args.corruptions
                                                   or ['all'])
        except ValueError as error:
            parser.error(str(error))
    if args.severities is not None or not args.collect:
        args.severities = sorted(set(args.severities or [1, 2, 3, 4, 5]))
        if any(not 1 <= s <= 5 for s in args.severities):
            parser.error('--severities must be in 1..5')
    if not args.collect:
        if not args.checkpoint:
            parser.error('CHECKPOINT is required unless --collect is given')
        if not args.corrupted_root:
            parser.error('--corrupted-root is required unless --collect is '
                         'given')
    if args.work_dir is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.work_dir = osp.join('work_dirs', 'corruption_sweep', name)
    return args


# --------------------------------------------------------------------------
# distributed helpers (no-ops without a launcher)
# --------------------------------------------------------------------------
def _rank() -> int:
    from mmengine.dist import get_rank
    return get_rank()


def _log(message: str) -> None:
    if _rank() == 0:
        print(message, flush=True)


def _barrier() -> None:
    from mmengine.dist import barrier
    barrier()


def _init_distributed(cfg, launcher: str) -> None:
    if launcher == 'none':
        return
    import torch

    from stl_mm.engine import init_cpu_distributed
    if torch.cuda.is_available():
        from mmengine.dist import init_dist, is_distributed
        if not is_distributed():
            init_dist(launcher, **cfg.get('env_cfg', {}).get('dist_cfg', {}))
    else:
        init_cpu_distributed(cfg, launcher)


# --------------------------------------------------------------------------
# configs and runs
# --------------------------------------------------------------------------
def load_config(args):
    from mmengine.config import Config
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file not found: "{args.config}"')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def compose_config(args, base_cfg, data_root: str, name: str):
    """The config that evaluates the checkpoint on ``data_root``."""
    from stl_mm.engine import enable_amp
    cfg = copy.deepcopy(base_cfg)
    sweep.point_test_set_at(cfg, data_root, args.task)
    if cfg.get('test_cfg') is None:
        cfg.test_cfg = dict()
    cfg.work_dir = osp.join(args.work_dir, 'runs', name)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    cfg.launcher = args.launcher
    # unique per run: mmengine keys its logger and visualizer by this name
    cfg.experiment_name = f'{name}_{time.strftime("%Y%m%d_%H%M%S")}_' \
        f'{next(_RUN_IDS)}'
    if args.amp:
        if cfg.get('optim_wrapper') is None:
            cfg.optim_wrapper = dict(type='OptimWrapper',
                                     optimizer=dict(type='SGD', lr=0.))
        enable_amp(cfg)
        cfg.test_cfg = dict(cfg.test_cfg, fp16=True)
    return cfg


def evaluate(cfg) -> dict:
    """Run the Runner's test loop; returns the metrics as plain floats."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    return {k: _plain(v) for k, v in runner.test().items()}


def _plain(value):
    """numpy/torch scalars -> Python numbers (for JSON)."""
    if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return float(value) if isinstance(value, (int, float)) and not \
        isinstance(value, bool) else value


def _load_generator():
    path = osp.join(REPO, 'tools', 'make_corrupted_dataset.py')
    spec = importlib.util.spec_from_file_location(
        '_stl_mm_make_corrupted_dataset', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(args, split: str, pending) -> None:
    """Write the missing corrupted images of the pending pairs (one call
    of tools/make_corrupted_dataset.py per corruption)."""
    if not pending:
        return
    if not osp.isdir(args.clean_root):
        raise FileNotFoundError(
            f'Clean root not found: "{args.clean_root}"')
    generator = _load_generator()
    by_corruption = {}
    for corruption, severity in pending:
        by_corruption.setdefault(corruption, []).append(severity)
    layout = sweep.TASKS[args.task]['layout']
    for corruption, severities in by_corruption.items():
        argv = [args.clean_root, args.corrupted_root, '--layout', layout,
                '--corruptions', corruption, '--severities',
                *map(str, severities), '--split', split, '--seed',
                str(args.seed), '-j', str(args.workers), '--labels',
                args.labels, '--no-progress']
        _log(f'generating {corruption} severities {severities} from '
             f'{args.clean_root} ...')
        status = generator.main(argv)
        if status:
            raise RuntimeError(
                f'tools/make_corrupted_dataset.py failed (exit status '
                f'{status}) for {corruption}; see its messages above.')


def _metric_keys(args):
    return [key for _, key, _ in sweep.TASKS[args.task]['metrics']]


def _show(record: dict, args) -> str:
    parts = []
    for title, key, scale in sweep.TASKS[args.task]['metrics']:
        value = record['metrics'].get(key)
        parts.append(f'{title} {value * scale:.2f}' if isinstance(
            value, float) else f'{title} —')
    return ', '.join(parts)


def run_sweep(args) -> None:
    cfg = load_config(args)
    _init_distributed(cfg, args.launcher)
    keys = _metric_keys(args)
    split = sweep.test_split(cfg, args.task)

    jobs = []  # (corruption, severity, data_root)
    if args.eval_clean:
        clean_root = args.clean_root or sweep.test_dataset(cfg).data_root
        jobs.append((sweep.CLEAN, None, clean_root))
    jobs += [(c, s, sweep.pair_root(args.corrupted_root, c, s))
             for c in args.corruptions for s in args.severities]

    todo = []
    for corruption, severity, root in jobs:
        record = sweep.load_result(
            sweep.result_file(args.work_dir, corruption, severity))
        if args.force or not sweep.is_done(record, args.checkpoint, keys):
            todo.append((corruption, severity, root))

    pending = [(c, s) for c, s, _ in todo if c != sweep.CLEAN]
    if args.clean_root:
        if _rank() == 0:
            generate(args, split, pending)
        _barrier()
    else:
        missing = [root for c, s, root in todo
                   if c != sweep.CLEAN and not osp.isdir(root)]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} corrupted dataset root(s) do not exist, '
                f'e.g. "{missing[0]}". Generate them with '
                'tools/make_corrupted_dataset.py --layout '
                f'{sweep.TASKS[args.task]["layout"]}, or pass --clean-root '
                'to generate them on demand.')

    total = len(jobs)
    for index, (corruption, severity, root) in enumerate(jobs, 1):
        name = sweep.pair_name(corruption, severity)
        path = sweep.result_file(args.work_dir, corruption, severity)
        if (corruption, severity, root) not in todo:
            record = sweep.load_result(path)
            _log(f'[{index}/{total}] {name}: stored ({_show(record, args)})')
            continue
        _log(f'[{index}/{total}] {name}: evaluating {root}')
        metrics = evaluate(compose_config(args, cfg, root, name))
        record = dict(corruption=corruption, severity=severity,
                      data_root=root, config=args.config,
                      checkpoint=osp.abspath(args.checkpoint),
                      metrics=metrics)
        if _rank() == 0:
            sweep.save_result(path, record)
        _log(f'[{index}/{total}] {name}: {_show(record, args)}')
    _barrier()  # every result is on disk before rank 0 summarises


def _stored_corruptions(results) -> list:
    from stl_mm.utils.imagecorruptions_compat import ALL_CORRUPTIONS
    stored = {c for c, _ in results if c != sweep.CLEAN}
    order = {name: i for i, name in enumerate(ALL_CORRUPTIONS)}
    return sorted(stored, key=lambda c: (order.get(c, len(order)), c))


def summarise(args) -> dict:
    results = sweep.collect_results(args.work_dir)
    if not results:
        raise FileNotFoundError(
            f'No results in "{osp.join(args.work_dir, sweep.RESULTS_DIR)}".')
    corruptions = args.corruptions or _stored_corruptions(results)
    severities = args.severities or sorted(
        {s for c, s in results if c != sweep.CLEAN})
    summary = sweep.summarise(results, corruptions, severities,
                              sweep.TASKS[args.task]['metrics'])
    summary.update(config=args.config, checkpoint=args.checkpoint,
                   task=args.task)
    name = osp.splitext(osp.basename(args.config))[0]
    dataset = 'Cityscapes-C' if args.task == 'seg' else 'COCO-C'
    table = sweep.to_markdown(summary, title=f'{dataset}: {name}')
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
        f.write('\n')
    with open(osp.join(args.work_dir, 'summary.md'), 'w') as f:
        f.write(table)
    print(table)
    return summary


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not args.collect:
        import stl_mm  # noqa: F401 (registries, safe checkpoint loading)
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'Checkpoint file not found: "{args.checkpoint}"')
        run_sweep(args)
    if _rank() != 0:
        return {}
    return summarise(args)


if __name__ == '__main__':
    from stl_mm.utils.cli import friendly_errors
    with friendly_errors():
        main()
