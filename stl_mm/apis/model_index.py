"""The model index (``model-index.yml`` -> ``configs/*/metafile.yml``) as
data, and the Markdown tables made from it.

The README's model-zoo tables and the results tables of
``configs/{fan,stl,lvvit}/README.md`` are generated from
the metafiles (``tools/misc/update_model_zoo_tables.py``) between the marker
lines ``<!-- model-zoo:KIND -->`` and ``<!-- /model-zoo -->``;
``tests/test_model_index.py`` checks that they are up to date.
"""
import os.path as osp
import re
from typing import Dict, List, Optional

import yaml

from stl_mm.utils.resources import resource_root

__all__ = [
    'load_model_index', 'render_table', 'TABLE_KINDS', 'update_tables',
    'TABLE_FILES'
]

_DATASETS = ('ImageNet-1k', 'ImageNet-C', 'ImageNet-A', 'ImageNet-R')
#: files with generated tables (relative to the repository root)
TABLE_FILES = ('README.md', 'configs/fan/README.md', 'configs/stl/README.md',
               'configs/lvvit/README.md')
_BLOCK = re.compile(r'(<!-- model-zoo:(?P<kind>[\w-]+) -->\n)(?P<body>.*?)'
                    r'(<!-- /model-zoo -->)', re.S)


def load_model_index(root: Optional[str] = None) -> List[Dict]:
    """Every model of every metafile listed by ``model-index.yml``, in
    order; each dict gets ``'_metafile'`` (its metafile's path relative to
    ``root``) and ``'_collection'`` (its collection's dict)."""
    root = str(root or resource_root())
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for relpath in index['Import']:
        with open(osp.join(root, relpath)) as f:
            meta = yaml.safe_load(f)
        collections = {c['Name']: c for c in meta.get('Collections') or []}
        for model in meta.get('Models') or []:
            models.append(dict(model, _metafile=relpath,
                               _collection=collections.get(
                                   model.get('In Collection'), {})))
    return models


def _top1(model: Dict, dataset: str) -> Optional[float]:
    for result in model.get('Results') or []:
        if result.get('Dataset') == dataset:
            return result['Metrics'].get('Top 1 Accuracy')
    return None


def _cell(value, fmt='{}') -> str:
    return '' if value is None else fmt.format(value)


def _row(cells) -> str:
    return '|' + '|'.join(f' {c} ' if c else ' ' for c in cells) + '|'


def _link(path: str, base: str, text: str) -> str:
    return f'[{text}]({osp.relpath(path, base) if base else path})'


def _weights(model: Dict) -> str:
    url = model.get('Weights') or (model.get('Converted From') or {}).get(
        'Weights')
    return f'[model]({url})' if url else ''


def _in1k_only(model):
    return model['Metadata'].get('Training Data') == 'ImageNet-1k'


def _zoo_rows(models, base):
    """README: the ImageNet-1K variants (FAN, the STL students, FAN-Swin)."""
    order = {'FAN': 0, 'STL': 1, 'FAN-Swin': 2}
    rows = [m for m in models
            if m.get('In Collection') in order and _in1k_only(m)
            and not m['Name'].startswith('stl-labeler_')]
    rows.sort(key=lambda m: order[m['In Collection']])  # stable
    lines = ['| variant | config | params (M) | GMACs | IN-1K | IN-C acc | '
             'IN-A | IN-R | source |', '|---|---|---|---|---|---|---|---|---|']
    for m in rows:
        md = m['Metadata']
        name = f'`{m["Name"]}`' + (' (STL)' if m['In Collection'] == 'STL'
                                    else '')
        config = md.get('Training Config', m['Config'])
        lines.append(_row([
            name, _link(config, base, 'cfg'),
            f'{md["Parameters"] / 1e6:.2f}', f'{md["FLOPs"] / 1e9:.2f}',
            *[_cell(_top1(m, d)) for d in _DATASETS],
            md.get('Results Source', '')]))
    return lines


def _in22k_rows(models, base):
    """README: the ImageNet-22K pre-trained, 1K fine-tuned FAN files."""
    rows = [m for m in models if m.get('In Collection') == 'FAN'
            and not _in1k_only(m)]
    lines = ['| variant | input | params (M) | GMACs | IN-1K | IN-C acc | '
             'source |', '|---|---|---|---|---|---|---|']
    for m in rows:
        md = m['Metadata']
        variant = re.sub(r'_in22k.*$', '', m['Name'])
        size = md['Image Size']
        lines.append(_row([
            f'`{variant}`', f'{size}²', f'{md["Parameters"] / 1e6:.2f}',
            f'{md["FLOPs"] / 1e9:.2f}',
            *[_cell(_top1(m, d)) for d in _DATASETS[:2]],
            md.get('Results Source', '')]))
    return lines


def _family_rows(models, base, collections):
    """A family README (mmpretrain layout): one row per model."""
    rows = [m for m in models if m.get('In Collection') in collections]
    lines = ['| Model | Pretrain | Resolution | Params (M) | Flops (G) | '
             'Top-1 (%) | IN-C (%) | Config | Download |',
             '|:---|:---:|:---:|:---:|:---:|:---:|:---:|:---:|:---:|']
    for m in rows:
        md = m['Metadata']
        pretrain = ('ImageNet-21k' if not _in1k_only(m) else 'From scratch')
        lines.append(_row([
            f'`{m["Name"]}`', pretrain, str(md['Image Size']),
            f'{md["Parameters"] / 1e6:.2f}', f'{md["FLOPs"] / 1e9:.2f}',
            _cell(_top1(m, 'ImageNet-1k')), _cell(_top1(m, 'ImageNet-C')),
            _link(m['Config'], base, 'config'), _weights(m)]))
    return lines


#: kind of table -> renderer(models, folder of the file it goes in)
TABLE_KINDS = {
    'in1k': _zoo_rows,
    'in22k': _in22k_rows,
    'fan': lambda models, base: _family_rows(models, base,
                                             ('FAN', 'FAN-Swin')),
    'stl': lambda models, base: _family_rows(models, base, ('STL', )),
    'lvvit': lambda models, base: _family_rows(models, base, ('LV-ViT', )),
}


def render_table(kind: str, models: List[Dict], base: str = '') -> str:
    """The Markdown table ``kind`` (:data:`TABLE_KINDS`) for a file in the
    folder ``base`` (relative to the repository root; links are relative
    to it)."""
    return '\n'.join(TABLE_KINDS[kind](models, base)) + '\n'


def update_tables(root: str, check: bool = False) -> List[str]:
    """Regenerate the tables of :data:`TABLE_FILES` under ``root`` (a
    source checkout); with ``check`` write nothing. Returns the files
    whose tables were (or, with ``check``, would be) changed."""
    models = load_model_index(root)
    changed = []
    for relpath in TABLE_FILES:
        path = osp.join(root, relpath)
        with open(path) as f:
            text = f.read()
        base = osp.dirname(relpath)
        new = _BLOCK.sub(
            lambda m: m.group(1) + render_table(m.group('kind'), models, base)
            + m.group(4), text)
        if new != text:
            changed.append(relpath)
            if not check:
                with open(path, 'w') as f:
                    f.write(new)
    return changed
