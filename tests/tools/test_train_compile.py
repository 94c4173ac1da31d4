"""tools/train.py --compile: ``stl_mm.CompileHook`` (``torch.compile`` of
``extract_feat``) through the real Runner on the demo model.

The compile backend is ``aot_eager``:
TorchDynamo captures the training step and AOTAutograd traces forward and
backward as with inductor, without inductor's C++ code generation, which
takes minutes on a 2-core CI machine. The benchmark measures inductor.
"""
import torch

from stl_mm.testing import DEMO_CLS_CONFIG, demo_data_opts, run_tool


def test_train_compile_option_compiles_the_train_step(demo_root, tmp_path):
    work = tmp_path / 'compiled'
    out = run_tool(['tools/train.py', str(DEMO_CLS_CONFIG), '--work-dir',
                    str(work), '--compile', 'aot_eager', '--no-validate',
                    '--cfg-options', *demo_data_opts(demo_root),
                    'train_cfg.max_epochs=1'])
    log = out.stdout + out.stderr
    assert "extract_feat compiled with {'backend': 'aot_eager'}" in log
    checkpoint = torch.load(work / 'epoch_1.pth', weights_only=False)
    weights = checkpoint['state_dict']['head.fc.weight']
    assert torch.isfinite(weights).all()

