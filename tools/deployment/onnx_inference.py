#!/usr/bin/env python
"""Classify images with a model exported by pytorch2onnx.py.

    python tools/deployment/onnx_inference.py MODEL.onnx IMAGE_OR_DIR...
        [--topk 5] [--class-names FILE] [--fusion cls|cls_plus_max|mean_tokens]
        [--threads N]

Needs only numpy, Pillow and onnxruntime: it runs where neither torch nor
the OpenMMLab stack is installed, which is why it is self-contained and
imports nothing from stl_mm (the preprocessing, the fusion rule and the
class names come from the model's ``stl_mm.*`` metadata instead).

For every image (directories are searched recursively for image files) one
JSON line is printed: ``file``, ``topk_labels``, ``topk_scores`` (softmax of
the fused class scores), ``topk_names`` (when the model or ``--class-names``
names the classes) and, for token models, ``token_labels`` (the arg-max
class of every token, a list of H/16 rows of W/16 labels).

Preprocessing, as stored at export: a fixed-size model gets the config's
test pipeline (e.g. bicubic resize of the short edge to 224 and a 224x224
center crop) or, for other sizes, an aspect-preserving resize that covers
the input size and a center crop; a dynamic model keeps each image's size,
resized to the nearest multiples of 16. Images are decoded by Pillow (EXIF
orientation applied, converted to RGB); PNG input gives the same pixels as
the OpenMMLab loader, JPEG decoders of other builds may differ by one grey
level.

Errors in the input (unreadable model or image, wrong options) print one
``error: ...`` line and exit with status 2 (``STL_MM_DEBUG=1`` shows the
traceback).
"""
import argparse
import json
import os
import sys

META_PREFIX = 'stl_mm.'
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif',
                    '.tiff', '.ppm', '.pgm')
FUSIONS = ('cls', 'cls_plus_max', 'mean_tokens')
DEBUG_ENV = 'STL_MM_DEBUG'


class UsageError(Exception):
    """Bad input: printed as one ``error:`` line, exit status 2."""


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------
class OnnxModel:
    """An exported classifier and what its metadata says about it."""

    def __init__(self, path: str, threads: int = None):
        import onnxruntime as ort
        if not os.path.isfile(path):
            raise UsageError(f'ONNX model not found: "{path}".')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                path, options, providers=['CPUExecutionProvider'])
        except Exception as error:  # noqa: BLE001 (onnxruntime's own types)
            first = str(error).strip().splitlines()[0] if str(error) else ''
            raise UsageError(f'Cannot load the ONNX model "{path}": {first}'
                             ) from error
        meta = self.session.get_modelmeta().custom_metadata_map
        if META_PREFIX + 'preprocess' not in meta:
            raise UsageError(
                f'"{path}" has no stl_mm metadata: export it with '
                'tools/deployment/pytorch2onnx.py.')
        self.meta = {k[len(META_PREFIX):]: v for k, v in meta.items()
                     if k.startswith(META_PREFIX)}
        self.steps = json.loads(self.meta['preprocess'])
        self.outputs = json.loads(self.meta['outputs'])
        self.is_token_model = 'token_logits' in self.outputs
        self.fusion = json.loads(self.meta.get(
            'fusion', '{"rule": "cls", "max_weight": 0.5}'))
        self.classes = (json.loads(self.meta['classes'])
                        if 'classes' in self.meta else None)
        self.stride = int(self.meta.get('token_stride', 16))
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        shape = list(model_input.shape)
        self.batch = shape[0] if isinstance(shape[0], int) else None
        self.size = (tuple(shape[2:]) if all(isinstance(s, int)
                                             for s in shape[2:]) else None)

    def run(self, batch):
        """``(N, 3, H, W)`` float32 RGB 0..255 -> the output arrays."""
        import numpy as np
        n = batch.shape[0]
        if self.batch is not None and n < self.batch:  # fixed batch: pad
            pad = np.zeros((self.batch - n, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, pad])
        outputs = self.session.run(None, {self.input_name: batch})
        return [out[:n] for out in outputs]


# --------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------
def find_images(inputs):
    """Files named on the command line, and the image files (by extension,
    sorted) under the directories named there."""
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = []
            for root, _, names in os.walk(item):
                found += [os.path.join(root, n) for n in names
                          if n.lower().endswith(IMAGE_EXTENSIONS)]
            if not found:
                raise UsageError(f'No image files in the directory "{item}".')
            files += sorted(found)
        elif os.path.isfile(item):
            files.append(item)
        else:
            raise UsageError(f'Image not found: "{item}".')
    return files


def read_image(path):
    """The image as an RGB ``PIL.Image`` (EXIF orientation applied, as
    OpenCV's loader does)."""
    from PIL import Image, ImageOps
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return image.convert('RGB')
    except (OSError, ValueError, SyntaxError) as error:
        raise UsageError(
            f'Cannot read the image "{path}" ({type(error).__name__}: '
            f'{error}): the file is empty, corrupt or not an image.'
        ) from error


def _resample(name):
    from PIL import Image
    return getattr(Image.Resampling, name.upper())


def _resize(image, height, width, interpolation):
    if image.size == (width, height):
        return image
    return image.resize((width, height), _resample(interpolation))


def _center_crop(image, height, width):
    """Center crop as mmcv's ``CenterCrop`` (offsets rounded, clipped to the
    image)."""
    img_w, img_h = image.size
    height, width = min(height, img_h), min(width, img_w)
    top = max(0, int(round((img_h - height) / 2.)))
    left = max(0, int(round((img_w - width) / 2.)))
    return image.crop((left, top, left + width, top + height))


def _resize_edge(image, size, edge, interpolation):
    """mmpretrain's ``ResizeEdge``: one edge to ``size``, the other scaled
    along (truncated)."""
    w, h = image.size
    if (edge == 'short' and w < h) or (edge == 'long' and w > h) \
            or edge == 'width':
        return _resize(image, int(size * h / w), size, interpolation)
    return _resize(image, size, int(size * w / h), interpolation)


def _resize_cover(image, height, width, interpolation):
    """Keep the aspect ratio, cover ``height x width`` (the edge that binds
    gets its size exactly, the other is truncated as ``ResizeEdge`` does)."""
    w, h = image.size
    if width / w >= height / h:
        return _resize(image, max(height, int(width * h / w)), width,
                       interpolation)
    return _resize(image, height, max(width, int(height * w / h)),
                   interpolation)


def _round_to_multiple(image, divisor, interpolation):
    """Resize to the nearest multiples of ``divisor`` (halves up, at least
    one ``divisor``)."""
    w, h = image.size

    def near(side):
        return max(divisor, (side + divisor // 2) // divisor * divisor)

    return _resize(image, near(h), near(w), interpolation)


def preprocess(image, steps):
    """Apply the stored preprocessing steps to an RGB ``PIL.Image``;
    returns an ``(H, W, 3)`` uint8 array."""
    import numpy as np
    for step in steps:
        op = step['op']
        interpolation = step.get('interpolation', 'bilinear')
        if op == 'resize_edge':
            image = _resize_edge(image, step['size'], step['edge'],
                                 interpolation)
        elif op == 'resize':
            image = _resize(image, *step['size'], interpolation)
        elif op == 'resize_cover':
            image = _resize_cover(image, *step['size'], interpolation)
        elif op == 'center_crop':
            image = _center_crop(image, *step['size'])
        elif op == 'round_to_multiple':
            image = _round_to_multiple(image, step['divisor'], interpolation)
        else:
            raise UsageError(f'Unknown preprocessing step {op!r} in the '
                             'model metadata: update this script.')
    return np.asarray(image, dtype=np.uint8)


# --------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------
def softmax(x, axis=-1):
    import numpy as np
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def fuse(cls_logits, token_logits, rule, max_weight):
    """Class scores ``(N, K)`` from the two outputs (as
    ``TokenLabelHead.fuse``)."""
    if rule == 'cls' or token_logits is None:
        return cls_logits
    if rule == 'cls_plus_max':
        return cls_logits + max_weight * token_logits.max(axis=1)
    return token_logits.mean(axis=1)


def results_for(model, files, arrays, topk, rule, classes):
    """One result dict per image of one batch."""
    import numpy as np
    batch = np.stack(arrays).astype(np.float32).transpose(0, 3, 1, 2)
    outputs = model.run(np.ascontiguousarray(batch))
    cls_logits = outputs[0]
    token_logits = outputs[1] if model.is_token_model else None
    scores = softmax(fuse(cls_logits, token_logits, rule,
                          float(model.fusion.get('max_weight', 0.5))))
    k = min(topk, scores.shape[1])
    results = []
    for i, path in enumerate(files):
        order = np.argsort(-scores[i], kind='stable')[:k]
        result = dict(file=path, topk_labels=[int(j) for j in order],
                      topk_scores=[float(scores[i, j]) for j in order])
        if classes is not None:
            result['topk_names'] = [classes[j] for j in order]
        if token_logits is not None:
            h = batch.shape[2] // model.stride
            w = batch.shape[3] // model.stride
            labels = token_logits[i].argmax(axis=-1).reshape(h, w)
            result['token_labels'] = labels.tolist()
        results.append(result)
    return results


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Classify images with an exported ONNX model (numpy, '
        'Pillow and onnxruntime only).')
    parser.add_argument('model', help='ONNX file from pytorch2onnx.py')
    parser.add_argument('images', nargs='+',
                        help='image files or directories of images')
    parser.add_argument('--topk', type=int, default=5,
                        help='classes per image (default 5)')
    parser.add_argument('--class-names',
                        help='text file, one class name per line (default: '
                        'the names stored in the model, if any)')
    parser.add_argument('--fusion', choices=FUSIONS,
                        help='token models: class scores from the class '
                        'head (cls), plus 0.5 x the token maximum '
                        "(cls_plus_max) or the token mean (default: the "
                        "config's rule, stored at export)")
    parser.add_argument('--threads', type=int,
                        help='onnxruntime intra-op threads')
    return parser.parse_args(argv)


def _class_names(path, num_classes):
    try:
        with open(path, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f'Cannot read --class-names "{path}" (not a UTF-8 '
                         f'text file?): {error}.') from error
    if num_classes is not None and len(names) != num_classes:
        raise UsageError(f'--class-names "{path}" has {len(names)} names, '
                         f'the model {num_classes} classes.')
    return names


def run(args, out=sys.stdout):
    if args.topk < 1:
        raise UsageError(f'--topk must be at least 1, got {args.topk}.')
    files = find_images(args.images)
    model = OnnxModel(args.model, args.threads)
    num_classes = int(model.meta['num_classes']) if model.meta.get(
        'num_classes') else None
    classes = (_class_names(args.class_names, num_classes)
               if args.class_names else model.classes)
    rule = args.fusion or model.fusion.get('rule', 'cls')
    if rule != 'cls' and not model.is_token_model:
        raise UsageError(f'--fusion {rule} needs a token model; this model '
                         'has only class logits.')
    chunk = model.batch or 1
    for start in range(0, len(files), chunk):
        names = files[start:start + chunk]
        arrays = [preprocess(read_image(f), model.steps) for f in names]
        if model.size is not None and arrays[0].shape[:2] != model.size:
            raise UsageError(
                f'The preprocessing gives {arrays[0].shape[0]}x'
                f'{arrays[0].shape[1]} images, the model needs '
                f'{model.size[0]}x{model.size[1]}: re-export the model.')
        for result in results_for(model, names, arrays, args.topk, rule,
                                  classes):
            out.write(json.dumps(result) + '\n')
            out.flush()
    return 0


def main(argv=None):
    try:
        args = parse_args(argv)
        try:
            import numpy  # noqa: F401
            import onnxruntime  # noqa: F401
            from PIL import Image  # noqa: F401
        except ImportError as error:
            raise UsageError(f'{error.name} is not installed: pip install '
                             'numpy Pillow onnxruntime') from error
        return run(args)
    except UsageError as error:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f'error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
