"""Datasets for robustness evaluation: ImageNet val, -C, -A and -R folders.

All of them map class folders by WordNet id (wnid) through a fixed list,
never by the sort order of the folders found on disk, so a missing or an
extra folder cannot shift labels:

* ``stl_mm.ImageNetVal`` -- ``<data_root>/<data_prefix>/<wnid>/*``; label =
  position of the wnid in ``wnids`` (default: the 1000 sorted ImageNet
  wnids, the standard class order of ImageNet-1k classifiers).
* ``stl_mm.ImageNetC`` -- ``<root>/<corruption>/<severity>/<wnid>/*``, the
  layout of the released ImageNet-C and of
  ``tools/make_corrupted_dataset.py --layout imagefolder``; each sample also
  carries ``corruption`` and ``severity``.
* ``stl_mm.ImageNetA`` / ``stl_mm.ImageNetR`` -- ``<root>/<wnid>/*`` with the
  200 classes of each set; label = position in the 200-wnid list, and the
  metainfo key ``logit_indices`` holds, per label, the column of the
  classifier output (the wnid's position in ``model_wnids``, default the
  1000 sorted wnids) that ``stl_mm.OODSubsetMetric`` keeps.

Folder checks (the same for every dataset):

* a directory whose name is not in ``wnids`` raises ``ValueError`` naming it
  (hidden directories, starting with ``.``, and plain files such as the
  ``README.txt`` of ImageNet-A/R are ignored);
* a wnid without a folder, or whose folder holds no image, raises
  ``FileNotFoundError`` listing them, unless ``allow_missing_classes=True``,
  which turns it into a warning (metainfo ``missing_classes``). An
  incomplete download then cannot silently make a smaller test set.

The class lists come from :mod:`stl_mm.robustness.ood_subsets`
(``imagenet_ood_subsets.json``, package data). ``wnids`` or
``classes_file`` (one wnid per line) override the label space, e.g. for a
small generated tree.
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset

from stl_mm.registry import DATASETS
from stl_mm.robustness.corruptions import (ALL_CORRUPTIONS,
                                           COMMON_CORRUPTIONS,
                                           EXTRA_CORRUPTIONS,
                                           resolve_corruptions)
from stl_mm.robustness.ood_subsets import (SUBSETS_FILE, imagenet_wnids,
                                           load_ood_subsets, subset_indices,
                                           subset_wnids)

__all__ = [
    'ImageNetVal', 'ImageNetC', 'ImageNetA', 'ImageNetR', 'WnidFolderDataset',
    'load_ood_subsets', 'imagenet_wnids', 'subset_wnids', 'subset_indices',
    'ALL_CORRUPTIONS', 'COMMON_CORRUPTIONS', 'EXTRA_CORRUPTIONS',
    'SUBSETS_FILE'
]

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


def _read_wnids(wnids: Optional[Sequence[str]], classes_file: Optional[str],
                default: Sequence[str], what: str) -> List[str]:
    if wnids is not None and classes_file is not None:
        raise ValueError(f'Give either {what} or its classes_file, not both.')
    if classes_file is not None:
        with open(osp.expanduser(classes_file)) as f:
            wnids = [line.strip() for line in f if line.strip()]
    if wnids is None:
        wnids = default
    if isinstance(wnids, str):
        raise TypeError(f'{what} must be a list of wnids, got a string.')
    wnids = [str(w) for w in wnids]
    if not wnids:
        raise ValueError(f'{what} is empty.')
    if len(set(wnids)) != len(wnids):
        dup = sorted({w for w in wnids if wnids.count(w) > 1})
        raise ValueError(f'{what} repeats {", ".join(dup)}.')
    return wnids


def _short_list(items: Sequence, limit: int = 20) -> str:
    items = [str(i) for i in items]
    text = ', '.join(items[:limit])
    if len(items) > limit:
        text += f', ... ({len(items) - limit} more)'
    return text


class WnidFolderDataset(BaseDataset):
    """Images in one folder per wnid, labels from a fixed wnid list.

    Args:
        data_root: dataset root.
        data_prefix: sub-folder of ``data_root`` holding the wnid folders.
        wnids: the label space (label = position); default
            :attr:`default_wnids`.
        classes_file: a text file with one wnid per line, instead of
            ``wnids``.
        allow_missing_classes: warn instead of raising when wnids have no
            folder (or no image).
        extensions: image file extensions (case-insensitive).
        **kwargs: passed to mmpretrain's ``BaseDataset`` (``pipeline``,
            ``test_mode``, ``indices``, ``serialize_data``, ``lazy_init``...).
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 wnids: Optional[Sequence[str]] = None,
                 classes_file: Optional[str] = None,
                 allow_missing_classes: bool = False,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        self.wnids = _read_wnids(wnids, classes_file, self.default_wnids(),
                                 'wnids')
        self.wnid_to_label: Dict[str, int] = {
            w: i
            for i, w in enumerate(self.wnids)
        }
        self.allow_missing_classes = allow_missing_classes
        self.extensions = tuple(e.lower() for e in extensions)
        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', tuple(self.wnids))
        metainfo.update(self.extra_metainfo())
        kwargs.pop('ann_file', None)
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    # -- hooks for subclasses ----------------------------------------------
    def default_wnids(self) -> List[str]:
        return imagenet_wnids()

    def extra_metainfo(self) -> dict:
        return {}

    # -- scanning -------------------------------------------------------------
    def _images_in(self, folder: str) -> List[str]:
        found = []
        for root, dirs, files in os.walk(folder, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            for name in sorted(files):
                if name.lower().endswith(self.extensions):
                    found.append(osp.join(root, name))
        return found

    def scan_wnid_folders(self, folder: str) -> Tuple[List[dict], List[str]]:
        """Samples (``img_path``, ``gt_label``) of ``folder`` and the wnids
        that have no images there. Raises on unknown class folders."""
        if not osp.isdir(folder):
            raise FileNotFoundError(f'Dataset folder not found: "{folder}".')
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
        class_dirs = [e.name for e in entries
                      if e.is_dir() and not e.name.startswith('.')]
        unknown = [d for d in class_dirs if d not in self.wnid_to_label]
        if unknown:
            raise ValueError(
                f'"{folder}" has {len(unknown)} folder(s) that are not '
                f'classes of {type(self).__name__}: {_short_list(unknown)}. '
                'Class folders must be named by the wnids of the label '
                'space (override it with wnids= or classes_file=).')
        samples: List[dict] = []
        present = set()
        for wnid in class_dirs:
            label = self.wnid_to_label[wnid]
            images = self._images_in(osp.join(folder, wnid))
            if images:
                present.add(wnid)
            samples.extend(dict(img_path=p, gt_label=label) for p in images)
        missing = [w for w in self.wnids if w not in present]
        return samples, missing

    def _report_missing(self, missing: Dict[str, List[str]]) -> List[str]:
        """Raise or warn about wnids without images, per scanned folder."""
        missing = {k: v for k, v in missing.items() if v}
        if not missing:
            return []
        lines = [f'  {folder}: {len(wnids)} class(es) missing: '
                 f'{_short_list(wnids, 10)}'
                 for folder, wnids in missing.items()]
        lines = lines[:20] + ([f'  ... and {len(lines) - 20} more folders']
                              if len(lines) > 20 else [])
        text = (f'{type(self).__name__}: some classes have no images:\n' +
                '\n'.join(lines))
        if not self.allow_missing_classes:
            raise FileNotFoundError(
                text + '\nPass allow_missing_classes=True to evaluate the '
                'classes that are present.')
        warnings.warn(text)
        print_log(text, logger='current', level=30)
        return sorted({w for v in missing.values() for w in v},
                      key=self.wnid_to_label.get)

    def load_data_list(self) -> List[dict]:
        folder = self.data_prefix['img_path'] or self.data_root
        samples, missing = self.scan_wnid_folders(folder)
        self._metainfo['missing_classes'] = self._report_missing(
            {folder: missing})
        if not samples:
            raise FileNotFoundError(f'No images found in "{folder}".')
        return samples


@DATASETS.register_module()
class ImageNetVal(WnidFolderDataset):
    """ImageNet-1k validation images in ``<data_root>/<data_prefix>/<wnid>/``
    (the usual "valprep" layout), labelled by the sorted 1000 wnids.

    See :class:`WnidFolderDataset` for the arguments.
    """


@DATASETS.register_module()
class ImageNetC(WnidFolderDataset):
    """ImageNet-C: ``<root>/<corruption>/<severity>/<wnid>/*``.

    ``<root>`` is ``data_root`` joined with ``data_prefix``.

    Each sample carries ``corruption`` (str) and ``severity`` (int); the
    metainfo has ``corruptions``, ``severities`` (as requested) and
    ``missing_pairs`` (list of ``[corruption, severity]``).

    Args:
        corruptions: names, or ``'all'`` (default, the 19 of the released
            set: 15 common + 4 extra), ``'common'`` or ``'extra'``.
        severities: severities to load (default 1..5).
        allow_missing: a requested corruption or severity folder that does
            not exist raises ``FileNotFoundError`` unless this is True; then
            it is skipped with a warning (and ``stl_mm.ImageNetCMetric``
            needs ``allow_partial=True``).
        **kwargs: see :class:`WnidFolderDataset`.
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 corruptions: Union[str, Sequence[str]] = 'all',
                 severities: Sequence[int] = (1, 2, 3, 4, 5),
                 allow_missing: bool = False,
                 **kwargs):
        self.corruptions = resolve_corruptions(corruptions)
        if isinstance(severities, int):
            severities = [severities]
        self.severities = [int(s) for s in severities]
        bad = [s for s in self.severities if not 1 <= s <= 5]
        if bad or not self.severities or \
                len(set(self.severities)) != len(self.severities):
            raise ValueError('severities must be distinct integers in 1..5, '
                             f'got {list(severities)}.')
        self.allow_missing = allow_missing
        super().__init__(data_root=data_root, data_prefix=data_prefix,
                         **kwargs)

    def extra_metainfo(self) -> dict:
        return dict(corruptions=tuple(self.corruptions),
                    severities=tuple(self.severities))

    def load_data_list(self) -> List[dict]:
        root = self.data_prefix['img_path'] or self.data_root
        if not osp.isdir(root):
            raise FileNotFoundError(f'ImageNet-C root not found: "{root}".')
        on_disk = sorted(e.name for e in os.scandir(root) if e.is_dir())
        missing_pairs: List[List] = []
        missing_classes: Dict[str, List[str]] = {}
        samples: List[dict] = []
        for corruption in self.corruptions:
            for severity in self.severities:
                folder = osp.join(root, corruption, str(severity))
                if not osp.isdir(folder):
                    missing_pairs.append([corruption, severity])
                    continue
                found, missing = self.scan_wnid_folders(folder)
                if not found:
                    missing_pairs.append([corruption, severity])
                    continue
                missing_classes[folder] = missing
                for sample in found:
                    sample['corruption'] = corruption
                    sample['severity'] = severity
                samples.extend(found)
        if missing_pairs:
            absent = sorted({c for c, _ in missing_pairs
                             if not osp.isdir(osp.join(root, c))})
            hints = []
            for name in absent:
                near = [d for d in on_disk
                        if d.lower() == name.lower() and d != name]
                if near:
                    hints.append(f'"{name}" not found but "{near[0]}" is '
                                 '(names are case-sensitive)')
            text = (f'ImageNetC: {len(missing_pairs)} requested '
                    '(corruption, severity) folder(s) are missing or empty '
                    f'under "{root}": ' +
                    _short_list([f'{c}/{s}' for c, s in missing_pairs], 30))
            if hints:
                text += '. ' + '; '.join(hints)
            if not self.allow_missing:
                raise FileNotFoundError(
                    text + '. Pass allow_missing=True to evaluate the rest '
                    '(the metric then needs allow_partial=True).')
            warnings.warn(text)
            print_log(text, logger='current', level=30)
        self._metainfo['missing_pairs'] = missing_pairs
        self._metainfo['missing_classes'] = self._report_missing(
            missing_classes)
        if not samples:
            raise FileNotFoundError(f'No ImageNet-C images under "{root}".')
        return samples


class _SubsetDataset(WnidFolderDataset):
    """A 200-class subset of ImageNet evaluated through 1000-class logits.

    Args:
        model_wnids: the classifier's output classes (default the 1000
            sorted wnids); ``logit_indices`` = position of each dataset wnid
            in it.
        model_classes_file: a file with one wnid per line, instead of
            ``model_wnids``.
        **kwargs: see :class:`WnidFolderDataset` (``wnids``/``classes_file``
            default to the set's 200 wnids).
    """
    SUBSET = ''

    def __init__(self,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 model_wnids: Optional[Sequence[str]] = None,
                 model_classes_file: Optional[str] = None,
                 **kwargs):
        self.model_wnids = _read_wnids(model_wnids, model_classes_file,
                                       imagenet_wnids(), 'model_wnids')
        super().__init__(data_root=data_root, data_prefix=data_prefix,
                         **kwargs)

    def default_wnids(self) -> List[str]:
        return subset_wnids(self.SUBSET)

    def extra_metainfo(self) -> dict:
        position = {w: i for i, w in enumerate(self.model_wnids)}
        outside = [w for w in self.wnids if w not in position]
        if outside:
            raise ValueError(
                f'{type(self).__name__}: wnids not among the model classes: '
                f'{_short_list(outside)}.')
        # (no plain-string values here: mmengine would try to read a string
        # metainfo value as a file)
        return dict(
            logit_indices=tuple(position[w] for w in self.wnids),
            num_model_classes=len(self.model_wnids))


@DATASETS.register_module()
class ImageNetA(_SubsetDataset):
    """ImageNet-A (natural adversarial examples): ``<root>/<wnid>/*.jpg``,
    200 classes. See :class:`_SubsetDataset` and :class:`WnidFolderDataset`.
    """
    SUBSET = 'imagenet_a'


@DATASETS.register_module()
class ImageNetR(_SubsetDataset):
    """ImageNet-R (renditions): ``<root>/<wnid>/*.jpg``, 200 classes. See
    :class:`_SubsetDataset` and :class:`WnidFolderDataset`."""
    SUBSET = 'imagenet_r'
