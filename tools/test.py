"""Evaluate a checkpoint with an OpenMMLab config (classification,
segmentation, detection or robustness: the config decides)."""
import argparse
import os
import os.path as osp
import sys

import mmengine
from mmengine.config import Config, DictAction

from stl_mm.apis.report import evaluate_with_report
from stl_mm.engine import check_preprocessor_layout, run_test
from stl_mm.utils.cli import friendly_errors
from stl_mm.utils.config_options import check_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument(
        '--out', help='file to write the metrics (json/yaml/pkl) or the '
        'raw predictions (pkl) to, see --out-item')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        default='metrics',
        help='what --out holds')
    parser.add_argument(
        '--report', metavar='DIR',
        help='classification configs: also write a report to DIR '
        '(per-class precision/recall/F1/support table, confusion matrix '
        'and one-vs-rest ROC figures, report.json)')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision inference')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs (e.g. '
        'test_dataloader.dataset.data_root=data/imagenet-c '
        'model.head.fusion=cls_plus_max)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file not found: "{args.config}"')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    check_preprocessor_layout(cfg)
    if args.work_dir is None and cfg.get('work_dir') is None:
        args.work_dir = osp.join('./work_dirs',
                                 osp.splitext(osp.basename(args.config))[0])
    dump = args.out if args.out and args.out_item == 'pred' else None
    if args.report:
        result = evaluate_with_report(
            cfg, args.checkpoint, args.report, dump_predictions=dump,
            work_dir=args.work_dir, launcher=args.launcher, amp=args.amp)
        metrics = result['metrics']
        if result['report'] is not None:
            print(f'report written to {args.report}: '
                  f'{result["report"]["files"]["table"]}')
    else:
        metrics = run_test(cfg, args.checkpoint, work_dir=args.work_dir,
                           launcher=args.launcher, amp=args.amp,
                           dump_predictions=dump)
    if args.out and args.out_item == 'metrics':
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
        mmengine.dump(metrics, args.out)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
