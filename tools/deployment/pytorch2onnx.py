"""Export a classifier to ONNX and check it against PyTorch.

    python tools/deployment/pytorch2onnx.py MODEL CHECKPOINT
        --output-file OUT.onnx [--shape H W] [--dynamic-shape]
        [--batch-size N] [--opset N] [--no-verify] [--cfg-options K=V ...]

MODEL is an upstream FAN variant name (e.g. fan_small_12_p4_hybrid_token) or
a classifier config (STL student configs export their student); CHECKPOINT
any checkpoint the other tools read (upstream .pth.tar included). The graph
takes float32 RGB images in 0..255 (normalisation inside) and returns
cls_logits and, for token models, token_logits. Unless --no-verify, random
images run through PyTorch and onnxruntime (two sizes for --dynamic-shape)
and the tool exits 1 if an output differs by more than 1e-4. See
docs/deployment.md.
"""
import argparse
import sys

from mmengine.config import DictAction

from stl_mm.apis.onnx_export import DEFAULT_OPSET, pytorch2onnx
from stl_mm.utils.cli import friendly_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a classifier to ONNX (raw RGB 0..255 input, '
        'logits out) and verify it with onnxruntime.')
    parser.add_argument('model', help='FAN variant name or config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--output-file', required=True,
                        help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size, multiples of 16 (default: what '
                        "the config's test pipeline produces)")
    parser.add_argument('--dynamic-shape', action='store_true',
                        help='dynamic batch size, height and width')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='batch size of the (fixed) input')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset (default {DEFAULT_OPSET}; 23+ '
                        'exports attention as one Attention node)')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the PyTorch/onnxruntime comparison')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs '
                        '(e.g. model.head.fusion=cls_plus_max)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    _, checks = pytorch2onnx(
        args.model, args.checkpoint, args.output_file, shape=args.shape,
        dynamic=args.dynamic_shape, batch_size=args.batch_size,
        opset=args.opset, verify=not args.no_verify,
        cfg_options=args.cfg_options)
    return 1 if any(not c.passed for c in checks) else 0


if __name__ == '__main__':
    with friendly_errors():
        sys.exit(main())
