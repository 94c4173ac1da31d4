"""Train a model from an OpenMMLab config (classification, segmentation or
detection: the config's ``default_scope`` decides which library runs it)."""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

import stl_mm  # noqa: F401 (safe checkpoint loading, registry)
from stl_mm.engine import (check_preprocessor_layout, enable_amp,
                           enable_compile, run_train)
from stl_mm.utils.cli import friendly_errors
from stl_mm.utils.config_options import check_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision training (fp16 AMP on GPU, bf16 autocast on '
        'CPU)')
    parser.add_argument(
        '--compile',
        nargs='?',
        const='inductor',
        metavar='BACKEND',
        help='torch.compile the network (extract_feat) with this backend '
        '(default inductor; stl_mm.CompileHook)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip validation during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs (e.g. '
        'train_dataloader.dataset.data_root=data/imagenet)')
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


def load_config(path: str) -> Config:
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file not found: "{path}"')
    return Config.fromfile(path)


def merge_args(cfg: Config, args) -> Config:
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    check_preprocessor_layout(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        enable_amp(cfg)
    if args.compile:
        enable_compile(cfg, args.compile)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    run_train(merge_args(load_config(args.config), args), args.launcher)
    return 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
