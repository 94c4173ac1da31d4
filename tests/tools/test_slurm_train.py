"""tools/slurm_train.sh: argument and environment checks, and the srun
command line it submits (recorded by an ``srun`` executable placed first
on PATH: this machine has no Slurm cluster)."""
import os
import stat

from stl_mm.testing import run_tool

SLURM = 'tools/slurm_train.sh'
RECORDER = '''#!/usr/bin/env bash
printf '%s\\n' "$@" > "$SRUN_RECORD"
'''


def test_missing_arguments_print_usage():
    out = run_tool([SLURM, 'gpu', 'job'], check=False)
    assert out.returncode == 2 and 'usage:' in out.stderr


def test_without_srun_points_to_dist_train(tmp_path):
    # PATH with bash and coreutils only (no srun)
    env = dict(PATH='/usr/bin:/bin')
    out = run_tool([SLURM, 'gpu', 'job', 'cfg.py', 'work'], check=False,
                   env=env)
    assert out.returncode == 2
    assert 'srun not found' in out.stderr and 'dist_train.sh' in out.stderr


def test_submits_one_task_per_gpu_with_the_slurm_launcher(tmp_path):
    srun = tmp_path / 'srun'
    srun.write_text(RECORDER)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / 'args.txt'
    env = dict(PATH=f'{tmp_path}:{os.environ["PATH"]}', GPUS='16',
               GPUS_PER_NODE='8', SRUN_RECORD=str(record))
    run_tool([SLURM, 'gpu', 'stl s', 'configs/stl/fan_s_student.py',
              'work dir', '--amp', '--cfg-options', 'model.x=1'], env=env)
    args = record.read_text().splitlines()
    assert args[:2] == ['-p', 'gpu']
    for flag in ('--job-name=stl s', '--gres=gpu:8', '--ntasks=16',
                 '--ntasks-per-node=8', '--kill-on-bad-exit=1'):
        assert flag in args
    train = args.index('-u') + 1
    assert args[train].endswith('tools/train.py')
    assert args[train + 1:] == [
        'configs/stl/fan_s_student.py', '--work-dir=work dir',
        '--launcher=slurm', '--amp', '--cfg-options', 'model.x=1']
