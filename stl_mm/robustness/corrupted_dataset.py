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
``jpeg_quality``, default 95; PNG lossless). Each image gets its own seed,
a hash of its path relative to SRC, the corruption, the severity and
``seed``, so the output does not depend on the number of workers or on the
order of work and equals ``stl_mm.ImageCorruption(..., seed=SEED,
data_root=SRC)`` before encoding. Existing outputs are kept (the run
resumes); files are written to a temporary name and renamed, so an
interrupted run leaves no half file.

:func:`write_corrupted_dataset` does the work; ``tools/make_corrupted_dataset.py``
is its command line.
"""
import os
import os.path as osp
import shutil
import sys
import time
from multiprocessing import Pool
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from stl_mm.utils.image_io import ImageReadError, read_image

from .corruptions import corrupt, corruption_seed, load_imagecorruptions

__all__ = [
    'IMG_EXTENSIONS', 'DEFAULT_SPLITS', 'LAYOUTS', 'CorruptionReport',
    'write_corrupted_dataset', 'list_inputs', 'output_path'
]

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                  '.tiff', '.webp')
LAYOUTS = ('imagefolder', 'cityscapes', 'coco')
DEFAULT_SPLITS = {'cityscapes': ['val'], 'coco': ['val2017']}


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


def place_labels(src: str, layout: str, splits: Sequence[str], labels: str,
                 targets: List[str]) -> List[str]:
    """Link/copy the label folders into every output root; return notes."""
    notes = []
    if layout == 'cityscapes':
        gt = osp.join(src, 'gtFine')
        if not osp.isdir(gt):
            return [f'no "{gt}": the outputs have images only']
        names = None
        if labels == 'copy':
            names = [s for s in splits if osp.isdir(osp.join(gt, s))]
        for target in targets:
            _link_or_copy(gt, osp.join(target, 'gtFine'), labels, names)
    elif layout == 'coco':
        ann = osp.join(src, 'annotations')
        if not osp.isdir(ann):
            return [f'no "{ann}": the outputs have images only']
        names = None
        if labels == 'copy':
            names = sorted(n for n in os.listdir(ann)
                           if any(s in n for s in splits))
            if not names:
                names = sorted(os.listdir(ann))
        for target in targets:
            _link_or_copy(ann, osp.join(target, 'annotations'), labels,
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


def plan(out: str, corruptions: Sequence[str], severities: Sequence[int],
         rels: List[str]):
    """Tasks for the outputs that do not exist yet, and the count kept."""
    tasks, existing = [], 0
    for rel in rels:
        jobs = []
        for corruption in corruptions:
            for severity in severities:
                dst = output_path(out, corruption, severity, rel)
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


class CorruptionReport(NamedTuple):
    """The outcome of :func:`write_corrupted_dataset`.

    ``status``: 0 when everything was written; 1 when inputs could not be
    read (unless ``skip_unreadable``) or a corruption failed.
    """
    num_inputs: int
    num_targets: int
    existing: int
    written: int
    seconds: float
    unreadable: List[str]
    failed: List[str]
    notes: List[str]
    status: int


class InputError(ValueError):
    """Bad input roots (the tool's usage errors)."""

    user_facing = True


def write_corrupted_dataset(src: str,
                            out: str,
                            corruptions: Sequence[str],
                            severities: Sequence[int],
                            layout: str = 'imagefolder',
                            splits: Optional[Sequence[str]] = None,
                            labels: str = 'link',
                            seed: int = 0,
                            workers: int = 1,
                            jpeg_quality: int = 95,
                            skip_unreadable: bool = False,
                            progress: bool = True,
                            log=print) -> CorruptionReport:
    """Write ``OUT/<corruption>/<severity>/...`` copies of the dataset.

    Args:
        src / out: input and output roots (``out`` must not be inside
            ``src``).
        corruptions: corruption names (see
            :func:`stl_mm.robustness.corruptions.resolve_corruptions`).
        severities: severities in 1..5.
        layout: ``'imagefolder'``, ``'cityscapes'`` or ``'coco'``.
        splits: cityscapes ``leftImg8bit`` splits / coco image folders
            (default ``val`` / ``val2017``).
        labels: ``'link'`` or ``'copy'`` the label folders.
        seed: base seed of the per-image seeds.
        workers: processes.
        log: where the one-line progress messages go.

    Raises:
        InputError: a missing input root or folder, no images, or an output
            root inside the input root.
    """
    if splits is None:
        splits = DEFAULT_SPLITS.get(layout, [])
    if not osp.isdir(src):
        raise InputError(f'input root not found: "{src}"')
    src_abs, out_abs = osp.abspath(src), osp.abspath(out)
    if out_abs == src_abs or out_abs.startswith(src_abs + os.sep):
        raise InputError('the output root must not be (inside) the input '
                         'root')
    try:
        rels = list_inputs(src, layout, splits)
    except FileNotFoundError as error:
        raise InputError(str(error)) from None
    if not rels:
        raise InputError(f'no images found under "{src}"')
    load_imagecorruptions()  # fail early if the package is missing

    targets = [osp.join(out, c, str(s)) for c in corruptions
               for s in severities]
    notes = place_labels(src, layout, splits, labels, targets)
    tasks, existing = plan(out, corruptions, severities, rels)
    total_outputs = len(rels) * len(targets)
    log(f'{len(rels)} images x {len(targets)} (corruption, severity) = '
        f'{total_outputs} outputs; {existing} exist already, '
        f'{total_outputs - existing} to write with {workers} worker(s).')

    config = dict(src=src, seed=seed, jpeg_quality=jpeg_quality)
    unreadable, failed, written = [], [], 0
    bar = _Progress(len(tasks), progress)
    start = time.time()
    if workers == 1:
        _init_worker(config)
        results = map(process_image, tasks)
        pool = None
    else:
        pool = Pool(workers, initializer=_init_worker, initargs=(config, ))
        results = pool.imap_unordered(process_image, tasks, chunksize=4)
    try:
        for rel, status, message, count in results:
            written += count
            if status == 'unreadable':
                unreadable.append(rel)
            elif status == 'failed':
                failed.append(f'{rel}: {message}')
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    status = 1 if failed or (unreadable and not skip_unreadable) else 0
    return CorruptionReport(len(rels), len(targets), existing, written,
                            time.time() - start, sorted(unreadable),
                            sorted(failed), notes, status)
