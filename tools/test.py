"""Evaluate a checkpoint with an OpenMMLab config (classification,
segmentation, detection or robustness: the config decides)."""
import argparse
import os
import os.path as osp

import mmengine
from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import stl_mm  # noqa: F401 (safe checkpoint loading, registry)
from stl_mm.engine import (check_preprocessor_layout, enable_amp,
                           init_cpu_distributed)
from stl_mm.engine.checkpoint_check import prepare_checkpoint
from stl_mm.utils.cli import friendly_errors
from stl_mm.utils.config_options import check_cfg_options


def parse_args():
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
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


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
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'Checkpoint file not found: "{args.checkpoint}"')
    cfg.load_from = args.checkpoint
    if args.amp:
        if cfg.get('optim_wrapper') is None:
            cfg.optim_wrapper = dict(type='OptimWrapper',
                                     optimizer=dict(type='SGD', lr=0.))
        enable_amp(cfg)
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    cfg.launcher = args.launcher
    return cfg


def main():
    args = parse_args()
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file not found: "{args.config}"')
    cfg = merge_args(Config.fromfile(args.config), args)
    init_cpu_distributed(cfg, args.launcher)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    # upstream .pth.tar files are converted; weights the model lacks are an
    # error rather than a silently random layer
    runner._load_from = prepare_checkpoint(runner.model, args.checkpoint,
                                           runner.work_dir)
    if args.out and args.out_item == 'pred':
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out-item pred writes a pickle: give --out a '
                             '.pkl file name')
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    if args.out and args.out_item == 'metrics':
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
        mmengine.dump(metrics, args.out)
    return metrics


if __name__ == '__main__':
    with friendly_errors():
        main()
