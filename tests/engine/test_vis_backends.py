"""Optional logging backends: the documented switch of the runtime configs
(``visualizer.vis_backends.0.type=TensorboardVisBackend``) logs the training
scalars of a real Runner into TensorBoard event files."""
import uuid

import pytest
from mmengine.config import Config, DictAction

from stl_mm.engine import run_train
from stl_mm.testing import DEMO_CLS_CONFIG, demo_data_opts
from stl_mm.utils.config_options import check_cfg_options

pytest.importorskip('tensorboard')  # installed by tools/setup_env.sh (CI)


def _events(work_dir):
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    files = sorted(work_dir.rglob('events.out.tfevents.*'))
    assert files, f'no TensorBoard event file under {work_dir}'
    acc = EventAccumulator(str(files[0].parent))
    acc.Reload()
    return acc


def test_tensorboard_backend_logs_training_scalars(demo_root, tmp_path,
                                                   one_thread):
    cfg = Config.fromfile(str(DEMO_CLS_CONFIG))
    options = {}
    for pair in demo_data_opts(demo_root):
        key, value = pair.split('=', 1)
        options[key] = DictAction._parse_iterable(value)
    options.update({
        # the switch documented in configs/_base_/default_runtime.py
        'visualizer.vis_backends.0.type': 'TensorboardVisBackend',
        'work_dir': str(tmp_path / 'work'),
        'experiment_name': f't{uuid.uuid4().hex}',
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'train_dataloader.batch_size': 8,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 10,
    })
    check_cfg_options(cfg, options)  # what tools/train.py does first
    cfg.merge_from_dict(options)
    runner = run_train(cfg)
    assert runner.iter == 4  # 32 images / 8

    acc = _events(tmp_path / 'work')
    tags = set(acc.Tags()['scalars'])
    assert {'loss', 'lr', 'accuracy/top1'} <= tags, tags
    losses = [e.value for e in acc.Scalars('loss')]
    assert len(losses) == 4 and all(v > 0 for v in losses)
