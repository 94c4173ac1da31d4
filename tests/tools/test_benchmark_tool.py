"""tools/benchmark.py end to end on a tiny token model (real subprocess
workers, real STL step with a frozen teacher), checking the report's
contents rather than any speed."""
import json
import math

from stl_mm.testing import run_tool

TOKEN_CFG = 'configs/stl/demo/fan_demo_token_labeler.py'
TINY = ['--batch-size', '2', '--img-size', '32', '--iters', '1',
        '--warmup', '0', '--threads', '1']


def test_benchmark_reports_peer_model_and_stl_overhead(tmp_path):
    out_json = tmp_path / 'bench.json'
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--stl',
                    '--teacher-amp', 'none', *TINY, '--json', str(out_json)])
    report = json.loads(out_json.read_text())
    assert report['batch_size'] == 2 and report['img_size'] == 32
    assert set(report['results']) == {'deit-small', TOKEN_CFG}
    peer, fan = report['results']['deit-small'], report['results'][TOKEN_CFG]
    for r in (peer, fan):
        assert r['train_img_s'] > 0 and r['infer_img_s'] > 0
        assert r['peak_mem_mb'] > 0
    assert 'stl_teacher_overhead' not in peer  # the peer has no token head
    assert math.isfinite(fan['stl_teacher_overhead'])
    assert fan['stl_train_img_s'] > 0
    # the offline (label maps) step of the same student, next to it
    assert fan['offline_train_img_s'] > 0
    assert math.isfinite(fan['offline_maps_overhead'])
    assert 'maps +%' in out.stdout
    # --teacher-amp none: the teacher ran in float32, and the table says so
    assert fan['teacher_precision'] == 'float32'
    assert 'ran in float32' in out.stdout
    assert TOKEN_CFG in out.stdout and 'teacher +%' in out.stdout


def test_benchmark_rejects_bad_options():
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--cpu-time',
                    '--threads', '2'], check=False)
    assert out.returncode == 2 and '--cpu-time needs --threads 1' in out.stderr
    out = run_tool(['tools/benchmark.py', 'no_such_model', *TINY],
                   check=False)
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert 'neither a FAN variant name nor a config file' in out.stderr
    assert 'fan_small_12_p4_hybrid_token' in out.stderr  # the choices
