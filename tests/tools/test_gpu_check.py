"""tools/gpu_check.sh without a GPU: option handling, the plan of its
stages (--dry-run), and the demo stages and the final table for real on
the CPU (tiny settings). The CUDA stages run on GPU machines only."""
import sys

from stl_mm.testing import run_tool

ENV = {'PYTHON': sys.executable}


def test_gpu_check_plan_and_bad_options(tmp_path):
    out = run_tool(['tools/gpu_check.sh', '--dry-run', '--out',
                    str(tmp_path)], env=ENV)
    plan = out.stderr
    for stage in ('parity', 'bench_fp16', 'bench_bf16', 'bench_compile',
                  'demo_phase1', 'demo_phase2_fp16_teacher'):
        assert f'== {stage}:' in plan
    assert '-k cuda' in plan and '--device cuda' in plan
    assert '--batch-size 128' in plan and '--channels-last' in plan
    for model in ('fan_tiny_8_p4_hybrid_token', 'fan_base_16_p4_hybrid_token',
                  'timm:convnext_base', 'timm:deit_base_patch16_224'):
        assert model in plan
    assert 'model.teacher.amp=fp16' in plan
    for bad in (['--device', 'tpu'], ['--skip', 'all'], ['--bogus'],
                ['--batch-size', '0']):
        out = run_tool(['tools/gpu_check.sh', *bad], env=ENV, check=False)
        assert out.returncode == 2 and out.stderr.startswith('error: ')


def test_gpu_check_demo_stages_and_table_on_cpu(tmp_path):
    out = run_tool(['tools/gpu_check.sh', '--device', 'cpu', '--skip',
                    'parity', '--skip', 'bench', '--out', str(tmp_path)],
                   env=ENV)
    table = out.stdout
    assert 'demo_phase2_fp16_teacher' in table
    assert 'iterations logged, last loss' in table
    assert table.strip().splitlines()[-1].split()[:2] == ['total', 'ok']
    assert (tmp_path / 'phase2').is_dir()
