"""tools/benchmark.py end to end on a tiny token model (real subprocess
workers, real timm and mmpretrain peers, real STL step with a frozen
teacher), checking the report's contents rather than any speed."""
import json
import math

from stl_mm.testing import run_tool

TOKEN_CFG = 'configs/stl/demo/fan_demo_token_labeler.py'
TINY = ['--batch-size', '2', '--img-size', '32', '--iters', '1',
        '--warmup', '0', '--threads', '1']
CONVNEXT = 'timm:convnext_tiny'


def test_benchmark_reports_peers_model_and_stl_overhead(tmp_path):
    out_json = tmp_path / 'bench.json'
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--stl',
                    '--teacher-amp', 'none', '--peers', CONVNEXT,
                    'deit-small', *TINY, '--json', str(out_json)])
    report = json.loads(out_json.read_text())
    assert report['batch_size'] == 2 and report['img_size'] == 32
    assert report['reference'] == CONVNEXT
    assert set(report['results']) == {
        f'{name}|none|eager' for name in (CONVNEXT, 'deit-small', TOKEN_CFG)}
    results = report['results']
    peer, fan = results['deit-small|none|eager'], \
        results[f'{TOKEN_CFG}|none|eager']
    for r in results.values():
        assert r['train_img_s'] > 0 and r['infer_img_s'] > 0
        assert r['peak_mem_mb'] > 0
        # MACs from the FLOPs counter, GMAC/s from the measured speed
        assert r['gmacs'] > 0 and math.isclose(
            r['infer_gmac_s'], r['gmacs'] * r['infer_img_s'])
        assert math.isclose(r['train_gmac_s'],
                            3 * r['gmacs'] * r['train_img_s'])
    assert report['gemm_peak_gmac_s']['none'] > 0
    assert 'stl_teacher_overhead' not in peer  # the peer has no token head
    assert math.isfinite(fan['stl_teacher_overhead'])
    assert fan['stl_train_img_s'] > 0
    # the offline (label maps) step of the same student, next to it
    assert fan['offline_train_img_s'] > 0
    assert math.isfinite(fan['offline_maps_overhead'])
    assert 'maps +%' in out.stdout
    # --teacher-amp none: the teacher ran in float32, and the table says
    # so; its token labels are the float32 ones
    assert fan['teacher_precision'] == 'float32'
    assert fan['teacher_argmax_agreement'] == 1.0
    assert 'ran in float32' in out.stdout
    assert TOKEN_CFG in out.stdout and 'teacher +%' in out.stdout
    assert f'ratio to {CONVNEXT}' in out.stdout and 'GEMM peak' in out.stdout


def test_benchmark_amp_and_channels_last(tmp_path):
    out_json = tmp_path / 'bench.json'
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--peers', CONVNEXT,
                    '--amp', 'bf16', '--channels-last', *TINY,
                    '--json', str(out_json)])
    report = json.loads(out_json.read_text())
    assert report['amp'] == ['bf16'] and report['channels_last']
    assert set(report['results']) == {f'{CONVNEXT}|bf16|eager',
                                      f'{TOKEN_CFG}|bf16|eager'}
    assert report['gemm_peak_gmac_s']['bf16'] > 0
    fan = report['results'][f'{TOKEN_CFG}|bf16|eager']
    assert fan['train_img_s'] > 0 and fan['infer_img_s'] > 0
    assert 'channels-last' in out.stdout and ' bf16 ' in out.stdout


def test_benchmark_rejects_bad_options():
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--cpu-time',
                    '--threads', '2'], check=False)
    assert out.returncode == 2 and '--cpu-time needs --threads 1' in out.stderr
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--compile',
                    '--warmup', '0'], check=False)
    assert out.returncode == 2 and '--compile needs --warmup' in out.stderr
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--amp', 'fp8'],
                   check=False)
    assert out.returncode == 2 and 'fp8' in out.stderr
    out = run_tool(['tools/benchmark.py', 'no_such_model', *TINY],
                   check=False)
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert 'neither a FAN variant name nor a config file' in out.stderr
    assert 'fan_small_12_p4_hybrid_token' in out.stderr  # the choices
    out = run_tool(['tools/benchmark.py', TOKEN_CFG, '--peers',
                    'timm:no_such_net', *TINY], check=False)
    assert out.returncode == 1 and 'timm has no model' in out.stderr
    assert 'Traceback' not in out.stderr
