"""tools/train.py, tools/test.py, tools/dist_train.sh and tools/dist_test.sh
through the real mmengine Runner on generated images: resume, 2-process CPU
DDP training and testing, --out, and the one-line errors for bad input."""
import json
import textwrap

import torch

from stl_mm.testing import (DEMO_CLS_CONFIG, demo_data_opts, free_port,
                            run_tool)


def _data_opts(demo_root):
    return demo_data_opts(demo_root)


def test_train_resume_and_test(demo_root, tmp_path):
    work = tmp_path / 'work'
    opts = _data_opts(demo_root) + ['train_cfg.max_epochs=1',
                                    'train_cfg.val_interval=1',
                                    'default_hooks.checkpoint.interval=1']
    run_tool(['tools/train.py', str(DEMO_CLS_CONFIG), '--work-dir',
              str(work), '--cfg-options', *opts])
    first = torch.load(work / 'epoch_1.pth', weights_only=False)
    assert first['meta']['epoch'] == 1

    # resume from the work dir's latest checkpoint and train one more epoch
    out = run_tool([
        'tools/train.py', str(DEMO_CLS_CONFIG), '--work-dir', str(work),
        '--resume', '--cfg-options', *opts[:-3], 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1'
    ])
    assert 'resumed' in (out.stdout + out.stderr).lower()
    second = torch.load(work / 'epoch_2.pth', weights_only=False)
    assert second['meta']['epoch'] == 2
    assert second['meta']['iter'] == 2 * first['meta']['iter']

    metrics_file = tmp_path / 'metrics.json'
    run_tool(['tools/test.py', str(DEMO_CLS_CONFIG),
              str(work / 'epoch_2.pth'), '--work-dir', str(work), '--out',
              str(metrics_file), '--cfg-options', *_data_opts(demo_root)])
    metrics = json.loads(metrics_file.read_text())
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0

    # the same weights as an upstream timm-style file evaluate identically
    import argparse

    from stl_mm.models.utils import classifier_to_upstream
    upstream = {f'module.{k}': v for k, v in classifier_to_upstream(
        second['state_dict']).items()}
    upstream_file = tmp_path / 'model_best.pth.tar'
    torch.save({'state_dict': upstream, 'state_dict_ema': upstream,
                'epoch': 2, 'args': argparse.Namespace(model='fan')},
               upstream_file)
    upstream_metrics = tmp_path / 'upstream_metrics.json'
    run_tool(['tools/test.py', str(DEMO_CLS_CONFIG), str(upstream_file),
              '--work-dir', str(work), '--out', str(upstream_metrics),
              '--cfg-options', *_data_opts(demo_root)])
    assert json.loads(upstream_metrics.read_text()) == metrics

    # a checkpoint that lacks weights of the model is an error, not a
    # silently random layer
    partial = {k: v for k, v in second['state_dict'].items()
               if not k.startswith('head.')}
    partial_file = tmp_path / 'partial.pth'
    torch.save({'state_dict': partial}, partial_file)
    out = run_tool(['tools/test.py', str(DEMO_CLS_CONFIG), str(partial_file),
                    '--work-dir', str(work), '--cfg-options',
                    *_data_opts(demo_root)], check=False)
    assert out.returncode == 2 and 'Traceback' not in out.stderr
    assert "'head.fc.weight'" in out.stderr


RANK_DUMP_HOOK = '''
import os
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankWeightsDumpHook(Hook):
    """Each rank writes its parameters, to compare them across ranks.

    Buffers are left out: BatchNorm running statistics are per-rank by
    design (mmengine's DDP wrapper does not broadcast buffers).
    """

    def _dump(self, runner, name):
        model = runner.model.module if hasattr(runner.model, 'module') \\
            else runner.model
        torch.save({k: v.detach().cpu().clone() for k, v in
                    model.named_parameters()},
                   os.path.join(runner.work_dir, f'{name}{get_rank()}.pth'))

    def before_train(self, runner):
        self._dump(runner, 'init')

    def after_train(self, runner):
        self._dump(runner, 'rank')
'''


def test_two_process_cpu_training_keeps_ranks_identical(demo_root, tmp_path):
    (tmp_path / 'rank_dump_hook.py').write_text(RANK_DUMP_HOOK)
    config = tmp_path / 'dist_cfg.py'
    config.write_text(textwrap.dedent(f"""
        _base_ = ['{DEMO_CLS_CONFIG}']
        custom_imports = dict(imports=['rank_dump_hook'])
        custom_hooks = [dict(type='RankWeightsDumpHook')]
        train_dataloader = dict(batch_size=4)
        train_cfg = dict(max_epochs=1, val_interval=1)
        default_hooks = dict(checkpoint=dict(interval=1))
    """))
    work = tmp_path / 'work'
    run_tool(['tools/dist_train.sh', str(config), '2', '--work-dir',
              str(work), '--cfg-options', *_data_opts(demo_root)],
             env=dict(PORT=str(free_port()), PYTHONPATH=str(tmp_path)))
    rank0 = torch.load(work / 'rank0.pth')
    rank1 = torch.load(work / 'rank1.pth')
    init0 = torch.load(work / 'init0.pth')
    assert rank0.keys() == rank1.keys()
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key
    # the ranks saw different images, yet trained weights agree bitwise
    assert not torch.equal(rank0['head.fc.weight'], init0['head.fc.weight'])

    # tools/dist_test.sh: 2 CPU processes score the same numbers as one
    # (every val image counted once: 15 images do not split evenly into 2
    # ranks, so the sampler pads one and the results must drop it again)
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    test_opts = _data_opts(demo_root) + ['test_dataloader.batch_size=4',
                                         'test_dataloader.dataset.indices=15']
    single, dist = tmp_path / 'single.pkl', tmp_path / 'dist.pkl'
    run_tool(['tools/test.py', str(config), str(ckpt), '--work-dir',
              str(tmp_path / 'test1'), '--out', str(single), '--out-item',
              'pred', '--cfg-options', *test_opts],
             env=dict(PYTHONPATH=str(tmp_path)))
    out = run_tool(['tools/dist_test.sh', str(config), str(ckpt), '2',
                    '--work-dir', str(tmp_path / 'test2'), '--out', str(dist),
                    '--out-item', 'pred', '--cfg-options', *test_opts],
                   env=dict(PORT=str(free_port()), PYTHONPATH=str(tmp_path)))
    import mmengine
    preds = [{p['sample_idx']: p for p in mmengine.load(f)}
             for f in (single, dist)]
    assert sorted(preds[1]) == sorted(preds[0]) == list(range(15))
    assert len(mmengine.load(dist)) == 15  # the padded duplicate is gone
    for idx, pred in preds[0].items():
        assert torch.equal(pred['pred_label'], preds[1][idx]['pred_label'])
        torch.testing.assert_close(pred['pred_score'],
                                   preds[1][idx]['pred_score'])
    assert 'Epoch(test)' in out.stdout + out.stderr


def test_unknown_module_is_one_clear_error(demo_root, tmp_path):
    out = run_tool(['tools/train.py', str(DEMO_CLS_CONFIG), '--work-dir',
                    str(tmp_path), '--cfg-options', *_data_opts(demo_root),
                    'model.backbone.type=stl_mm.FANN'], check=False)
    assert out.returncode == 2
    assert 'Traceback' not in out.stderr
    assert 'unknown model type stl_mm.FANN' in out.stderr


def test_missing_data_root_is_one_clear_error(tmp_path):
    missing = tmp_path / 'nowhere'
    out = run_tool(['tools/train.py', str(DEMO_CLS_CONFIG), '--work-dir',
                    str(tmp_path), '--cfg-options',
                    f'train_dataloader.dataset.data_root={missing}'],
                   check=False)
    assert out.returncode == 2
    assert 'Traceback' not in out.stderr
    assert str(missing) in out.stderr and 'data_root' in out.stderr


def test_unreadable_image_is_one_clear_error(demo_root, tmp_path):
    import shutil
    broken = tmp_path / 'cls'
    shutil.copytree(demo_root / 'cls', broken)
    first = (broken / 'meta' / 'val.txt').read_text().split()[0]
    (broken / 'val' / first).write_bytes(b'not an image')
    out = run_tool(['tools/test.py', str(DEMO_CLS_CONFIG),
                    str(tmp_path / 'missing.pth'), '--work-dir',
                    str(tmp_path)], check=False)
    assert out.returncode == 2 and 'Checkpoint file not found' in out.stderr
    from stl_mm.apis import init_model
    ckpt = tmp_path / 'init.pth'
    torch.save({'state_dict': init_model(str(DEMO_CLS_CONFIG)).state_dict()},
               ckpt)
    opts = [o.replace(str(demo_root / 'cls'), str(broken))
            for o in _data_opts(demo_root)]
    out = run_tool(['tools/test.py', str(DEMO_CLS_CONFIG), str(ckpt),
                    '--work-dir', str(tmp_path), '--cfg-options', *opts],
                   check=False)
    assert out.returncode == 2
    assert 'Traceback' not in out.stderr
    assert f'Cannot read the image' in out.stderr and first in out.stderr


def test_amp_on_cpu_uses_bf16_autocast(demo_root, tmp_path):
    """--amp on a machine without GPU trains with bf16 autocast instead of
    failing in mmengine's CUDA-only AmpOptimWrapper."""
    work = tmp_path / 'amp'
    out = run_tool(['tools/train.py', str(DEMO_CLS_CONFIG), '--work-dir',
                    str(work), '--amp', '--cfg-options',
                    *_data_opts(demo_root), 'train_cfg.max_epochs=1',
                    'train_cfg.val_interval=1'])
    log = out.stdout + out.stderr
    assert "'stl_mm.AutocastOptimWrapper'" in log and 'bfloat16' in log
    checkpoint = torch.load(work / 'epoch_1.pth', weights_only=False)
    weights = checkpoint['state_dict']['head.fc.weight']
    assert weights.dtype == torch.float32 and torch.isfinite(weights).all()
