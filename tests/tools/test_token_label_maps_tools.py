"""Offline token labels end to end on generated images: dump the maps with
tools/dump_token_labels.py (resumable, 2 CPU processes), train LV-ViT
(MixToken) and FAN (preprocessor mix) students from them with
tools/train.py, resume, evaluate, and refuse a map of another class count
with one line naming the image."""
import pytest
import torch

from stl_mm.testing import REPO, demo_data_opts, free_port, run_tool
from stl_mm.apis.token_label_dump import dump_token_labels

TEACHER = REPO / 'configs/stl/demo/fan_demo_token_labeler.py'
DEMO = REPO / 'configs/lvvit/demo'
LVVIT = DEMO / 'token-labeling_lvvit-demo_1xb16-12e_demo-64px.py'
FAN = DEMO / 'token-labeling_fan-demo_1xb16-12e_demo-64px.py'
ONE_EPOCH = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'default_hooks.checkpoint.interval=1']


@pytest.fixture(scope='module')
def maps(demo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('maps')
    train = demo_root / 'cls' / 'train'
    log = run_tool(['tools/dump_token_labels.py', str(TEACHER), 'none',
                    str(train), '--out', str(out), '--img-size', '64',
                    '--batch-size', '8'])
    assert '32 maps written' in log.stdout
    return out


def _opts(demo_root, maps):
    return [*demo_data_opts(demo_root), *ONE_EPOCH,
            f'train_dataloader.dataset.pipeline.1.map_root={maps}']


def test_dump_format_and_resume(demo_root, maps):
    files = sorted(maps.rglob('*.pt'))
    assert len(files) == 32
    value = torch.load(files[0], weights_only=True)
    # 4 demo classes < top-5: every class stored; 64 px -> 4x4 tokens
    assert value.shape == (2, 4, 4, 4) and value.dtype == torch.float16
    assert files[0].parent.name.startswith('class_')  # mirrored tree
    # resuming (in-process, the tool's one package call) skips them all
    again = dump_token_labels(str(TEACHER), None,
                              str(demo_root / 'cls' / 'train'), str(maps),
                              img_size=64, progress=False)
    assert again['written'] == 0 and again['skipped'] == 32


def test_dump_with_two_processes(demo_root, tmp_path):
    out = tmp_path / 'maps2'
    run_tool(['-m', 'torch.distributed.run', '--nproc_per_node', '2',
              '--master_port', str(free_port()),
              'tools/dump_token_labels.py', str(TEACHER), 'none',
              str(demo_root / 'cls' / 'val'), '--out', str(out),
              '--img-size', '64', '--launcher', 'pytorch'])
    assert len(list(out.rglob('*.pt'))) == 16


def test_lvvit_student_trains_resumes_and_evaluates(demo_root, maps,
                                                    tmp_path):
    work = tmp_path / 'lvvit'
    opts = _opts(demo_root, maps)
    out = run_tool(['tools/train.py', str(LVVIT), '--work-dir', str(work),
                    '--cfg-options', *opts])
    log = out.stdout + out.stderr
    assert 'loss_dense' in log and 'accuracy/top1' in log
    out = run_tool(['tools/train.py', str(LVVIT), '--work-dir', str(work),
                    '--resume', '--cfg-options', *opts,
                    'train_cfg.max_epochs=2'])
    assert 'resumed' in (out.stdout + out.stderr).lower()
    metrics = tmp_path / 'metrics.json'
    run_tool(['tools/test.py', str(LVVIT), str(work / 'epoch_2.pth'),
              '--work-dir', str(work), '--out', str(metrics),
              '--cfg-options', *opts])
    assert metrics.exists()


def test_fan_student_trains_from_maps(demo_root, maps, tmp_path):
    out = run_tool(['tools/train.py', str(FAN), '--work-dir',
                    str(tmp_path / 'fan'), '--cfg-options',
                    *_opts(demo_root, maps)])
    assert 'loss_dense' in out.stdout + out.stderr


def test_broken_maps_give_one_clear_line(demo_root, maps, tmp_path):
    broken = tmp_path / 'broken'
    for f in maps.rglob('*.pt'):
        target = broken / f.relative_to(maps)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes())
    victim = sorted(broken.rglob('*.pt'))[0]
    value = torch.load(victim, weights_only=True)
    value[1, 0] = 7  # a class index of another label space
    torch.save(value, victim)
    out = run_tool(['tools/train.py', str(LVVIT), '--work-dir',
                    str(tmp_path / 'w'), '--cfg-options',
                    *_opts(demo_root, broken)], check=False)
    assert out.returncode == 2, out.stderr[-2000:]
    line = out.stderr.strip().splitlines()[0]
    assert line.startswith('error:') and victim.stem in line
    assert 'class' in line and 'Traceback' not in out.stderr
    # (a missing map: tests/datasets/test_token_label_map.py)
