"""stl_mm.engine.run_train: the package call behind tools/train.py trains a
config through the real mmengine Runner with the stl_mm guard hooks."""
import uuid

from mmengine.config import Config, DictAction

from stl_mm.engine import GUARD_HOOKS, run_train
from stl_mm.testing import DEMO_CLS_CONFIG, demo_data_opts


def _cfg(demo_root, work_dir):
    cfg = Config.fromfile(str(DEMO_CLS_CONFIG))
    for pair in demo_data_opts(demo_root):
        key, value = pair.split('=', 1)
        cfg.merge_from_dict({key: DictAction._parse_iterable(value)})
    cfg.merge_from_dict({
        'work_dir': str(work_dir),
        'experiment_name': f't{uuid.uuid4().hex}',
        'train_cfg.max_epochs': 1,
        'train_dataloader.batch_size': 8,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 1,
    })
    return cfg


def test_run_train_adds_guards_and_writes_checkpoint(demo_root, tmp_path):
    work = tmp_path / 'work'
    runner = run_train(_cfg(demo_root, work))
    assert runner.iter > 0 and runner.epoch == 1
    hook_types = {type(h).__name__ for h in runner.hooks}
    for name in GUARD_HOOKS:
        assert name.split('.')[-1] in hook_types
    assert (work / 'epoch_1.pth').is_file()
