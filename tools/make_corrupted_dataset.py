"""Write ImageNet-C style corrupted copies of an image dataset.

Layouts (SRC -> OUT):

* ``imagefolder``: every image under SRC (recursively, e.g. an ImageNet
  ``val/<wnid>/`` tree) -> ``OUT/<corruption>/<severity>/<same relative
  path>``, the layout ``stl_mm.ImageNetC`` reads.
* ``cityscapes``: SRC is the Cityscapes root;
  ``SRC/leftImg8bit/<split>/<city>/*`` ->
  ``OUT/<corruption>/<severity>/leftImg8bit/<split>/<city>/*``, and
  ``OUT/<corruption>/<severity>/gtFine`` links to (or copies) ``SRC/gtFine``,
  so each ``OUT/<corruption>/<severity>`` is a Cityscapes root for mmseg.
* ``coco``: SRC is the COCO root; ``SRC/<split>/*`` (e.g. ``val2017``) ->
  ``OUT/<corruption>/<severity>/<split>/*`` and
  ``OUT/<corruption>/<severity>/annotations`` links to (or holds unchanged
  copies of) ``SRC/annotations``.

Every output keeps the input's file name and extension (JPEG written at
``--jpeg-quality``, default 95; PNG lossless). Each image gets its own seed,
a hash of its path relative to SRC, the corruption, the severity and
``--seed``, so the output does not depend on ``-j`` or on the order of work
and equals ``stl_mm.ImageCorruption(..., seed=SEED, data_root=SRC)`` before
encoding. Existing outputs are kept (the run resumes); files are written to
a temporary name and renamed, so an interrupted run leaves no half file.

Exit status: 0 when everything was written; 1 when inputs could not be read
(unless ``--skip-unreadable``) or a corruption failed; 2 on usage errors.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import time
from multiprocessing import Pool
from typing import Iterable, List, Optional, Tuple

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from stl_mm.datasets.image_io import ImageReadError, read_image  # noqa
from stl_mm.utils.imagecorruptions_compat import (  # noqa: E402
    corrupt, corruption_seed, load_imagecorruptions, resolve_corruptions)

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                  '.tiff', '.webp')
DEFAULT_SPLITS = {'cityscapes': ['val'], 'coco': ['val2017']}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write corrupted (-C) copies of an image dataset with '
        'the imagecorruptions functions.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('src', help='input dataset root')
    parser.add_argument('out', help='output root')
    parser.add_argument(
        '--layout',
        choices=['imagefolder', 'cityscapes', 'coco'],
        default='imagefolder',
        help='input layout, see the module docstring')
    parser.add_argument(
        '--corruptions',
        nargs='+',
        default=['all'],
        help='corruption names or groups: all (19), common (15), extra (4)')
    parser.add_argument(
        '--severities', nargs='+', type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument(
        '--split',
        nargs='+',
        default=None,
        help='cityscapes: leftImg8bit splits (default val); coco: image '
        'folders (default val2017)')
    parser.add_argument(
        '--labels',
        choices=['link', 'copy'],
        default='link',
        help='cityscapes gtFine / coco annotations: symlink (default) or '
        'copy unchanged into every corruption/severity folder')
    parser.add_argument('--seed', type=int, default=0, help='base seed')
    parser.add_argument(
        '-j', '--workers', type=int, default=1, help='worker processes')
    parser.add_argument(
        '--jpeg-quality', type=int, default=95, help='JPEG output quality')
    parser.add_argument(
        '--skip-unreadable',
        action='store_true',
        help='report unreadable inputs but exit 0')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    try:
        args.corruptions = resolve_corruptions(args.corruptions)
    except ValueError as error:
        parser.error(str(error))
    if any(not 1 <= s <= 5 for s in args.severities):
        parser.error('--severities must be in 1..5')
    args.severities = sorted(set(args.severities))
    if args.workers < 1:
        parser.error('-j must be at least 1')
    if not 0 <= args.jpeg_quality <= 100:
        parser.error('--jpeg-quality must be in 0..100')
    if args.split is None:
        args.split = DEFAULT_SPLITS.get(args.layout, [])
    elif args.layout == 'imagefolder':
        parser.error('--split applies to the cityscapes and coco layouts')
    return args


# --------------------------------------------------------------------------
# Finding the inputs
# --------------------------------------------------------------------------
def _walk_images(root: str) -> List[str]:
    found = []
    for here, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in sorted(files):
            if not name.startswith('.') and \
                    name.lower().endswith(IMG_EXTENSIONS):
                found.append(osp.join(here, name))
    return found


def list_inputs(src: str, layout: str, splits: Iterable[str]) -> List[str]:
    """Image paths relative to ``src`` (posix separators), sorted."""
    if layout == 'imagefolder':
        roots = [src]
    elif layout == 'cityscapes':
        roots = [osp.join(src, 'leftImg8bit', s) for s in splits]
    else:
        roots = [osp.join(src, s) for s in splits]
    for root in roots:
        if not osp.isdir(root):
            raise FileNotFoundError(f'Input folder not found: "{root}"')
    rels = []
    for root in roots:
        for path in _walk_images(root):
            rels.append(osp.relpath(path, src).replace(osp.sep, '/'))
    return sorted(set(rels))


# --------------------------------------------------------------------------
# Labels next to the images
# --------------------------------------------------------------------------
def _link_or_copy(src: str, dst: str, mode: str,
                  names: Optional[List[str]] = None) -> None:
    """Make ``dst`` a link to the folder ``src``, or copy it (only
    ``names`` inside it when given). Existing ``dst`` is left alone."""
    if osp.lexists(dst):
        return
    os.makedirs(osp.dirname(dst), exist_ok=True)
    if mode == 'link':
        try:
            os.symlink(osp.abspath(src), dst, target_is_directory=True)
            return
        except OSError:
            pass  # no symlinks here: fall back to copying
    tmp = dst + f'.tmp{os.getpid()}'
    if names is None:
        shutil.copytree(src, tmp, symlinks=False)
    else:
        os.makedirs(tmp, exist_ok=True)
        for name in names:
            source = osp.join(src, name)
            if osp.isdir(source):
                shutil.copytree(source, osp.join(tmp, name))
            else:
                shutil.copy2(source, osp.join(tmp, name))
    os.replace(tmp, dst)


def place_labels(args, targets: List[str]) -> List[str]:
    """Link/copy the label folders into every output root; return notes."""
    notes = []
    if args.layout == 'cityscapes':
        gt = osp.join(args.src, 'gtFine')
        if not osp.isdir(gt):
            return [f'no "{gt}": the outputs have images only']
        names = None
        if args.labels == 'copy':
            names = [s for s in args.split if osp.isdir(osp.join(gt, s))]
        for target in targets:
            _link_or_copy(gt, osp.join(target, 'gtFine'), args.labels, names)
    elif args.layout == 'coco':
        ann = osp.join(args.src, 'annotations')
        if not osp.isdir(ann):
            return [f'no "{ann}": the outputs have images only']
        names = None
        if args.labels == 'copy':
            names = sorted(n for n in os.listdir(ann)
                           if any(s in n for s in args.split))
            if not names:
                names = sorted(os.listdir(ann))
        for target in targets:
            _link_or_copy(ann, osp.join(target, 'annotations'), args.labels,
                          names)
    return notes


# --------------------------------------------------------------------------
# The work
# --------------------------------------------------------------------------
_CONFIG = {}


def _init_worker(config: dict) -> None:
    _CONFIG.update(config)
    cv2.setNumThreads(1)
    load_imagecorruptions()


def _encode(img_bgr: np.ndarray, ext: str) -> bytes:
    ext = ext.lower()
    params = []
    if ext in ('.jpg', '.jpeg'):
        params = [cv2.IMWRITE_JPEG_QUALITY, _CONFIG['jpeg_quality']]
    ok, buf = cv2.imencode(ext, img_bgr, params)
    if not ok:
        raise RuntimeError(f'cannot encode {ext}')
    return buf.tobytes()


def _write_atomic(path: str, data: bytes) -> None:
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.tmp{os.getpid()}')
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def process_image(task: Tuple[str, List[Tuple[str, int, str]]]):
    """Corrupt one input for each (corruption, severity, output) of the
    task. Returns (rel, status, message, written)."""
    rel, jobs = task
    src = osp.join(_CONFIG['src'], rel)
    try:  # the loaders' reader: the same verdict on broken files
        img = read_image(src)
    except ImageReadError as error:
        return rel, 'unreadable', str(error), 0
    rgb = np.ascontiguousarray(img[..., ::-1])
    ext = osp.splitext(rel)[1]
    written = 0
    for corruption, severity, dst in jobs:
        try:
            seed = corruption_seed(rel, corruption, severity,
                                   _CONFIG['seed'])
            out = corrupt(rgb, corruption, severity, seed=seed)
            _write_atomic(dst, _encode(out[..., ::-1], ext))
            written += 1
        except Exception as error:  # noqa: BLE001 (reported, run goes on)
            return rel, 'failed', f'{corruption}/{severity}: {error}', written
    return rel, 'ok', '', written


def output_path(out: str, corruption: str, severity: int, rel: str) -> str:
    return osp.join(out, corruption, str(severity), *rel.split('/'))


def plan(args, rels: List[str]):
    """Tasks for the outputs that do not exist yet, and the count kept."""
    tasks, existing = [], 0
    for rel in rels:
        jobs = []
        for corruption in args.corruptions:
            for severity in args.severities:
                dst = output_path(args.out, corruption, severity, rel)
                if osp.exists(dst):
                    existing += 1
                else:
                    jobs.append((corruption, severity, dst))
        if jobs:
            tasks.append((rel, jobs))
    return tasks, existing


class _Progress:
    """tqdm when installed, else mmengine's ProgressBar, else nothing."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        self.kind = None
        if not enabled or total == 0:
            return
        try:
            from tqdm import tqdm
            self.bar, self.kind = tqdm(total=total, unit='img'), 'tqdm'
        except ImportError:
            from mmengine.utils import ProgressBar
            self.bar, self.kind = ProgressBar(total), 'mmengine'

    def update(self):
        if self.bar is not None:
            self.bar.update()

    def close(self):
        if self.kind == 'tqdm':
            self.bar.close()
        elif self.kind == 'mmengine':
            sys.stdout.write('\n')


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.src):
        print(f'error: input root not found: "{args.src}"', file=sys.stderr)
        return 2
    src_abs, out_abs = osp.abspath(args.src), osp.abspath(args.out)
    if out_abs == src_abs or out_abs.startswith(src_abs + os.sep):
        print('error: the output root must not be (inside) the input root',
              file=sys.stderr)
        return 2
    try:
        rels = list_inputs(args.src, args.layout, args.split)
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    if not rels:
        print(f'error: no images found under "{args.src}"', file=sys.stderr)
        return 2
    load_imagecorruptions()  # fail early if the package is missing

    targets = [osp.join(args.out, c, str(s)) for c in args.corruptions
               for s in args.severities]
    notes = place_labels(args, targets)
    tasks, existing = plan(args, rels)
    total_outputs = len(rels) * len(targets)
    print(f'{len(rels)} images x {len(targets)} (corruption, severity) = '
          f'{total_outputs} outputs; {existing} exist already, '
          f'{total_outputs - existing} to write with {args.workers} '
          'worker(s).', flush=True)

    config = dict(src=args.src, seed=args.seed,
                  jpeg_quality=args.jpeg_quality)
    unreadable, failed, written = [], [], 0
    progress = _Progress(len(tasks), not args.no_progress)
    start = time.time()
    if args.workers == 1:
        _init_worker(config)
        results = map(process_image, tasks)
        pool = None
    else:
        pool = Pool(args.workers, initializer=_init_worker,
                    initargs=(config, ))
        results = pool.imap_unordered(process_image, tasks, chunksize=4)
    try:
        for rel, status, message, count in results:
            written += count
            if status == 'unreadable':
                unreadable.append(rel)
            elif status == 'failed':
                failed.append(f'{rel}: {message}')
            progress.update()
    finally:
        progress.close()
        if pool is not None:
            pool.close()
            pool.join()

    print(f'wrote {written} files in {time.time() - start:.1f}s, kept '
          f'{existing} existing.')
    for note in notes:
        print(f'note: {note}')
    status = 0
    if unreadable:
        print(f'{len(unreadable)} unreadable input(s): ' +
              ', '.join(sorted(unreadable)[:20]) +
              (' ...' if len(unreadable) > 20 else ''), file=sys.stderr)
        if not args.skip_unreadable:
            print('(pass --skip-unreadable to accept this)', file=sys.stderr)
            status = 1
    if failed:
        print(f'{len(failed)} input(s) failed:\n  ' +
              '\n  '.join(sorted(failed)[:20]), file=sys.stderr)
        status = 1
    return status


if __name__ == '__main__':
    sys.exit(main())
