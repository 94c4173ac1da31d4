"""A folder of class sub-folders -> checked image lists and a reproducible,
stratified train/val split in mmpretrain's annotation-list format.

Layout read: ``DATA_DIR/<class name>/<image>`` (images may sit in deeper
sub-folders of their class folder). Class names are the folder names, in
sorted order (label = index), as :func:`mmpretrain.datasets.find_folders`
orders them; spaces and non-ASCII letters are kept.

Split files (``WORK/splits/{train,val}.txt``) hold one ``<path relative to
the data root> <label>`` line per image (UTF-8, ``/`` separators), the
format of ``mmpretrain.datasets.CustomDataset``'s ``ann_file``, which splits
each line at its *last* space, so paths with spaces survive. Names that
this format cannot carry (a line break, leading or trailing white space)
are refused with the file named.
"""
import json
import os
import os.path as osp
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine import fileio

from stl_mm.utils.errors import UserError
from stl_mm.utils.image_io import ImageReadError, decode_image

__all__ = ['IMAGE_EXTENSIONS', 'SPLIT_FILES', 'FolderScan',
           'scan_class_folders', 'folder_items', 'stratified_split',
           'write_split', 'write_split_lines', 'read_split']

#: file name endings read as images (mmpretrain's list; decoded by cv2)
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')
SPLIT_FILES = dict(train='train.txt', val='val.txt', meta='split.json')
_SHOWN = 5  # file names listed in an error message


@dataclass
class FolderScan:
    """What :func:`scan_class_folders` found.

    Attributes:
        root: the data folder (absolute).
        classes: class names, sorted.
        files: per class, the image paths relative to ``root`` ('/'-joined,
            sorted).
        ignored: files skipped for their name (not an image extension).
        unreadable: ``(relative path, reason)`` of images that cannot be
            decoded (only when they were skipped).
    """
    root: str
    classes: List[str]
    files: Dict[str, List[str]]
    ignored: List[str] = field(default_factory=list)
    unreadable: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def num_images(self) -> int:
        return sum(len(v) for v in self.files.values())


def _listing(names: Sequence[str]) -> str:
    shown = ', '.join(f'"{n}"' for n in names[:_SHOWN])
    more = len(names) - _SHOWN
    return shown + (f' and {more} more' if more > 0 else '')


def _check_name(rel: str, what: str) -> None:
    parts = rel.split('/')
    bad = [p for p in parts if p != p.strip() or '\n' in p or '\r' in p]
    if bad:
        raise UserError(
            f'The {what} "{rel}" has a name with a line break or leading/'
            'trailing white space, which an annotation list cannot hold: '
            'rename it.')


def _problem(path: str) -> Optional[str]:
    try:
        decode_image(fileio.get(path), path)
    except ImageReadError as error:
        return str(error).split(': ', 1)[-1].split('. Replace')[0]
    except OSError as error:
        return f'cannot be read ({error.strerror or error})'
    return None


def scan_class_folders(root: str,
                       check_images: bool = True,
                       skip_unreadable: bool = False,
                       workers: int = 2,
                       what: str = 'DATA_DIR') -> FolderScan:
    """List and check the images of ``root/<class>/...``.

    Args:
        root: the data folder.
        check_images: decode every image (with
            :func:`stl_mm.utils.image_io.decode_image`, the reader of the
            data loaders) to find unreadable or truncated files before
            training.
        skip_unreadable: leave unreadable images out (listed in
            ``FolderScan.unreadable``) instead of raising.
        workers: decoding threads.
        what: the folder's name in error messages (``DATA_DIR``,
            ``--val-dir``).

    Raises:
        UserError: not a folder; files outside class folders; fewer than
            two classes; a class without images; unreadable images (unless
            ``skip_unreadable``); names an annotation list cannot hold.
    """
    root = osp.abspath(root)
    if not osp.isdir(root):
        raise UserError(f'{what} "{root}" is not a folder: give a folder '
                        'with one sub-folder of images per class.')
    entries = sorted(e for e in os.listdir(root) if not e.startswith('.'))
    loose = [e for e in entries if not osp.isdir(osp.join(root, e))]
    if loose:
        raise UserError(
            f'{what} "{root}" has files outside class sub-folders '
            f'({_listing(loose)}): move each image into '
            f'{what}/<class name>/ (one sub-folder per class).')
    classes = entries
    if len(classes) < 2:
        raise UserError(
            f'{what} "{root}" has {len(classes)} class sub-folder'
            f'{"" if len(classes) == 1 else "s"}'
            f'{" (" + _listing(classes) + ")" if classes else ""}: a '
            'classifier needs at least two, one sub-folder of images per '
            'class.')
    files, ignored = {}, []
    for name in classes:
        _check_name(name, 'class folder')
        found = []
        for dirpath, dirnames, filenames in os.walk(osp.join(root, name),
                                                    followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
            for fname in filenames:
                if fname.startswith('.'):
                    continue
                rel = osp.relpath(osp.join(dirpath, fname),
                                  root).replace(os.sep, '/')
                if fname.lower().endswith(IMAGE_EXTENSIONS):
                    _check_name(rel, 'image')
                    found.append(rel)
                else:
                    ignored.append(rel)
        if not found:
            raise UserError(
                f'The class folder "{osp.join(root, name)}" has no images '
                f'(read: {", ".join(IMAGE_EXTENSIONS)}): add images or '
                'remove the folder.')
        files[name] = sorted(found)
    unreadable = []
    if check_images:
        paths = [p for name in classes for p in files[name]]
        with ThreadPoolExecutor(max(1, workers)) as pool:
            problems = list(pool.map(
                lambda rel: _problem(osp.join(root, rel)), paths))
        unreadable = [(rel, why) for rel, why in zip(paths, problems)
                      if why is not None]
        if unreadable and not skip_unreadable:
            first, why = unreadable[0]
            raise UserError(
                f'{len(unreadable)} image(s) in {what} cannot be read '
                f'({_listing([r for r, _ in unreadable])}; "{first}": {why}): '
                'replace or remove them, or pass --skip-unreadable to leave '
                'them out.')
        bad = {rel for rel, _ in unreadable}
        for name in classes:
            files[name] = [p for p in files[name] if p not in bad]
            if not files[name]:
                raise UserError(
                    f'The class folder "{osp.join(root, name)}" has no '
                    'readable images: replace the unreadable ones.')
    return FolderScan(root=root, classes=classes, files=files,
                      ignored=ignored, unreadable=unreadable)


def _class_rng(seed: int, name: str) -> np.random.Generator:
    # one stream per class: adding a class does not reshuffle the others
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def stratified_split(scan: FolderScan, val_ratio: float = 0.2,
                     seed: int = 0) -> Dict[str, List[Tuple[str, int]]]:
    """Split every class at ``val_ratio`` (rounded, at least one image on
    each side), reproducibly from ``seed``.

    Returns ``dict(train=[(path, label), ...], val=[...])``, ordered by
    class, then by path.

    Raises:
        UserError: a bad ratio, or a class with fewer than two images.
    """
    if not 0. < val_ratio < 1.:
        raise UserError(f'--val-ratio must lie between 0 and 1 (exclusive), '
                        f'got {val_ratio}.')
    split = dict(train=[], val=[])
    for label, name in enumerate(scan.classes):
        paths = scan.files[name]
        if len(paths) < 2:
            raise UserError(
                f'The class "{name}" has {len(paths)} image: a train/val '
                'split needs at least 2 per class (1 train + 1 val). Add '
                'images, or give a separate val folder with --val-dir.')
        n_val = min(max(1, int(round(len(paths) * val_ratio))),
                    len(paths) - 1)
        chosen = set(_class_rng(seed, name).permutation(len(paths))[:n_val])
        for i, path in enumerate(paths):
            split['val' if i in chosen else 'train'].append((path, label))
    return split


def folder_items(scan: FolderScan,
                 classes: Sequence[str]) -> List[Tuple[str, int]]:
    """All images of ``scan`` labelled by ``classes`` (a val folder read
    with the classes of the train folder)."""
    extra = [c for c in scan.classes if c not in classes]
    missing = [c for c in classes if c not in scan.classes]
    if extra or missing:
        raise UserError(
            f'The val folder "{scan.root}" must have the class sub-folders '
            f'of DATA_DIR: {"missing " + _listing(missing) if missing else ""}'
            f'{"; " if extra and missing else ""}'
            f'{"unknown " + _listing(extra) if extra else ""}. Give both the '
            'same class folders.')
    return [(p, classes.index(c)) for c in scan.classes for p in scan.files[c]]


def write_split_lines(path: str,
                      items: Sequence[Tuple[str, int]]) -> None:
    """Write ``(relative path, label)`` pairs as a split file."""
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8', newline='\n') as f:
        for rel, label in items:
            f.write(f'{rel} {label}\n')
    os.replace(tmp, path)


def write_split(out_dir: str, classes: Sequence[str],
                items: Dict[str, Sequence[Tuple[str, int]]],
                roots: Dict[str, str], **info) -> Dict[str, str]:
    """Write ``out_dir/{train,val}.txt`` and ``out_dir/split.json``
    (classes, data roots, counts per class and ``info``, e.g. the seed).

    Returns the paths (``train``, ``val``, ``meta``).
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {k: osp.join(out_dir, v) for k, v in SPLIT_FILES.items()}
    for part in ('train', 'val'):
        write_split_lines(paths[part], items[part])
    counts = {part: {c: 0 for c in classes} for part in ('train', 'val')}
    for part in ('train', 'val'):
        for _, label in items[part]:
            counts[part][classes[label]] += 1
    meta = dict(classes=list(classes), num_classes=len(classes),
                data_root=dict(roots), files={k: paths[k] for k in
                                              ('train', 'val')},
                counts=counts, **info)
    tmp = paths['meta'] + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2, ensure_ascii=False)
        f.write('\n')
    os.replace(tmp, paths['meta'])
    return paths


def read_split(path: str) -> List[Tuple[str, int]]:
    """``(relative path, label)`` pairs of a split file (the parsing of
    ``CustomDataset``: the label after the last space)."""
    items = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            if line:
                rel, label = line.rsplit(' ', 1)
                items.append((rel, int(label)))
    return items
