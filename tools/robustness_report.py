"""One robustness table for a classifier: IN-1K, IN-C, mCE, IN-A, IN-R.

Run mode (default) evaluates the checkpoint on every set whose root is
given, through mmengine's Runner test loop (as tools/test.py does), with the
dataset/evaluator settings of ``configs/robustness/_base_/<set>.py`` put in
place of the model config's ``test_dataloader``/``test_evaluator``. Each
set writes into ``WORK_DIR/<set>/`` and its returned metrics to
``WORK_DIR/<set>.metrics.json``; ImageNet-C, -A and -R also write their
detailed ``WORK_DIR/<set>.json``/``.csv``.

``--collect`` evaluates nothing: it reads the ``*.metrics.json`` files
already in WORK_DIR.

Both print the table (as in the FAN/STL papers, accuracies and mCE in
percent) and save it as ``WORK_DIR/robustness_report.md`` and ``.json``.
Sets without a root (run mode) or without results (collect mode) are shown
as "—". A value computed over an incomplete ImageNet-C is marked "*".

Token models (``TokenLabelHead``) are evaluated with the head fusion of
the published numbers, ``cls_plus_max`` (class logits + 0.5 x max over the
token logits, NVlabs/STL ``validate_ood.py``), on all four sets; the table
names the fusion used.

``--cfg-options`` apply to every composed config (after the set's
settings), e.g. ``model.head.fusion=cls`` or
``test_dataloader.batch_size=64``. ``--dump-configs`` also saves each
composed config as ``WORK_DIR/<set>_config.py`` for tools/test.py.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

SETS = ('imagenet-1k', 'imagenet-c', 'imagenet-a', 'imagenet-r')
BASE_CONFIGS = {
    'imagenet-1k': 'imagenet-1k-val.py',
    'imagenet-c': 'imagenet-c.py',
    'imagenet-a': 'imagenet-a.py',
    'imagenet-r': 'imagenet-r.py',
}
#: (column title, set, metric key) of the table.
COLUMNS = (
    ('IN-1K top-1', 'imagenet-1k', 'accuracy/top1'),
    ('IN-C acc', 'imagenet-c', 'imagenet-c/acc'),
    ('mCE ↓', 'imagenet-c', 'imagenet-c/mCE'),
    ('IN-A', 'imagenet-a', 'imagenet-a/top1'),
    ('IN-R', 'imagenet-r', 'imagenet-r/top1'),
)
DASH = '—'
#: head fusion of token models: the protocol of the published numbers
DEFAULT_TOKEN_FUSION = 'cls_plus_max'
PARTIAL_SUFFIX = '_partial'


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Evaluate (or collect) IN-1K, IN-C, IN-A and IN-R '
        'results and print one table.')
    parser.add_argument('config', help='model config (classification)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (not needed with --collect)')
    parser.add_argument('--imagenet-root',
                        help='ImageNet root holding val/<wnid>/ (or the val '
                        'folder itself)')
    parser.add_argument('--imagenet-c-root', help='ImageNet-C root')
    parser.add_argument('--imagenet-a-root', help='ImageNet-A root')
    parser.add_argument('--imagenet-r-root', help='ImageNet-R root')
    parser.add_argument('--work-dir', help='results folder (default '
                        'work_dirs/robustness/<config name>)')
    parser.add_argument('--collect', action='store_true',
                        help='only read existing results from --work-dir')
    parser.add_argument('--name', help='model name in the table (default: '
                        'the config file name)')
    parser.add_argument('--dump-configs', action='store_true',
                        help='save each composed config into --work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every composed config, '
                        'key=value pairs (e.g. model.head.fusion=cls_plus_max'
                        ' test_dataloader.batch_size=64)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none', help='job launcher')
    args = parser.parse_args(argv)
    if not args.collect and not args.checkpoint:
        parser.error('CHECKPOINT is required unless --collect is given')
    if args.work_dir is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.work_dir = osp.join('work_dirs', 'robustness', name)
    return args


def _roots(args) -> Dict[str, Optional[str]]:
    return {
        'imagenet-1k': args.imagenet_root,
        'imagenet-c': args.imagenet_c_root,
        'imagenet-a': args.imagenet_a_root,
        'imagenet-r': args.imagenet_r_root,
    }


def compose_config(model_config: str, set_name: str, data_root: str,
                   work_dir: str, cfg_options=None):
    """The model config with the test settings of ``set_name``."""
    from mmengine.config import Config
    cfg = Config.fromfile(model_config)
    base = Config.fromfile(
        osp.join(REPO, 'configs', 'robustness', '_base_',
                 BASE_CONFIGS[set_name]))
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
    # Runner wants test_dataloader, test_evaluator and test_cfg together
    if cfg.get('test_cfg') is None:
        cfg.test_cfg = dict()
    cfg.work_dir = osp.join(work_dir, set_name)
    head = cfg.model.get('head') or {}
    if str(head.get('type', '')).endswith('TokenLabelHead'):
        head['fusion'] = DEFAULT_TOKEN_FUSION
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def run_set(args, set_name: str, data_root: str) -> dict:
    from mmengine.runner import Runner

    from stl_mm.engine import init_cpu_distributed
    from stl_mm.engine.checkpoint_check import prepare_checkpoint

    cfg = compose_config(args.config, set_name, data_root, args.work_dir,
                         args.cfg_options)
    cfg.load_from = args.checkpoint
    cfg.launcher = args.launcher
    cfg.experiment_name = f'{set_name}_{time.strftime("%Y%m%d_%H%M%S")}'
    if args.dump_configs:
        os.makedirs(args.work_dir, exist_ok=True)
        cfg.dump(osp.join(args.work_dir, f'{set_name}_config.py'))
    init_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    # convert upstream files; refuse checkpoints that lack model weights
    runner._load_from = prepare_checkpoint(runner.model, args.checkpoint,
                                           runner.work_dir)
    metrics = runner.test()
    metrics = {k: (float(v) if isinstance(v, (int, float)) else v)
               for k, v in metrics.items()}
    metrics['fusion'] = head_fusion(cfg)
    if _is_main_process():
        with open(_metrics_file(args.work_dir, set_name), 'w') as f:
            json.dump(dict(set=set_name, data_root=data_root,
                           config=args.config, checkpoint=args.checkpoint,
                           metrics=metrics), f, indent=2)
    return metrics


def head_fusion(cfg) -> str:
    """The prediction rule of the composed config's head (``'cls'`` for
    heads without a fusion option)."""
    return (cfg.model.get('head') or {}).get('fusion', 'cls')


def _is_main_process() -> bool:
    from mmengine.dist import get_rank
    return get_rank() == 0


def _metrics_file(work_dir: str, set_name: str) -> str:
    return osp.join(work_dir, f'{set_name}.metrics.json')


def collect(work_dir: str) -> Dict[str, dict]:
    found = {}
    for set_name in SETS:
        path = _metrics_file(work_dir, set_name)
        if osp.isfile(path):
            with open(path) as f:
                found[set_name] = json.load(f)['metrics']
    return found


def _cell(metrics: Optional[dict], key: str):
    """(text, value, partial) of one table cell."""
    if not metrics:
        return DASH, None, False
    if key in metrics:
        return f'{metrics[key]:.2f}', metrics[key], False
    if key + PARTIAL_SUFFIX in metrics:
        value = metrics[key + PARTIAL_SUFFIX]
        return f'{value:.2f}*', value, True
    return DASH, None, False


def build_table(name: str, results: Dict[str, dict]):
    header = ['Model', 'Fusion'] + [title for title, _, _ in COLUMNS]
    fusions = sorted({m['fusion'] for m in results.values()
                      if m and m.get('fusion')})
    row, partial = [name, ', '.join(fusions) or DASH], False
    record = {'Fusion': ', '.join(fusions) or None}
    for title, set_name, key in COLUMNS:
        text, value, is_partial = _cell(results.get(set_name), key)
        row.append(text)
        record[title] = value
        partial = partial or is_partial
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] * len(header)) + '|',
             '| ' + ' | '.join(row) + ' |']
    if partial:
        lines.append('')
        lines.append('\\* computed on an incomplete ImageNet-C (see the '
                     'imagenet-c.json "partial" list).')
    return '\n'.join(lines) + '\n', record, partial


def main(argv=None) -> dict:
    args = parse_args(argv)
    roots = _roots(args)
    if args.collect:
        results = collect(args.work_dir)
        if not results:
            raise FileNotFoundError(
                f'No *.metrics.json results in "{args.work_dir}".')
    else:
        import stl_mm  # noqa: F401 (registries, safe checkpoint loading)
        if not any(roots.values()):
            raise ValueError('Give at least one of --imagenet-root, '
                             '--imagenet-c-root, --imagenet-a-root, '
                             '--imagenet-r-root.')
        for set_name, root in roots.items():
            if root and not osp.isdir(root):
                raise FileNotFoundError(
                    f'{set_name} root not found: "{root}"')
        results = {}
        for set_name in SETS:
            if roots[set_name]:
                results[set_name] = run_set(args, set_name, roots[set_name])
    if not _is_main_process():
        return results
    name = args.name or osp.splitext(osp.basename(args.config))[0]
    table, record, partial = build_table(name, results)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'robustness_report.md'), 'w') as f:
        f.write(table)
    with open(osp.join(args.work_dir, 'robustness_report.json'), 'w') as f:
        json.dump(dict(model=name, config=args.config,
                       checkpoint=args.checkpoint, table=record,
                       partial_imagenet_c=partial,
                       sets={s: results.get(s) for s in SETS}), f, indent=2)
    print(table)
    return results


if __name__ == '__main__':
    from stl_mm.utils.cli import friendly_errors
    with friendly_errors():
        main()
