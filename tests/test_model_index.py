"""The model index agrees with the code: metafiles, configs, the README
tables and ``VARIANT_CONFIGS`` name the same models and files; stl_mm's
models are in mmpretrain's model hub after ``import stl_mm``."""
import json
import re

import numpy as np
import pytest
import yaml
from mmengine.config import Config
from PIL import Image

import stl_mm  # noqa: F401 (registers the model hub)
from stl_mm.apis import VARIANT_CONFIGS
from stl_mm.apis.config import load_model_config
from stl_mm.apis.model_index import load_model_index, update_tables
from stl_mm.testing import FIXTURES, NO_FIXTURES, REPO
from stl_mm.utils.model_hub import HUB_METAFILES
from stl_mm.utils.resources import config_root, resource_root

FAMILIES = ('fan', 'stl', 'lvvit', 'segmentation', 'detection', 'robustness')
MODELS = load_model_index(str(REPO))
# configs of these families that have no model-index entry: an STL student
# with an LV-ViT backbone and a FAN teacher (its teacher file is the
# user's), LV-ViT + UperNet (mmseg; not a classifier for the hub)
NOT_INDEXED = {'configs/lvvit/stl_lvvit-s_fan-s-teacher_8xb128-300e_in1k.py',
               'configs/lvvit/upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'}


def _is_alias(path):
    """A short name: nothing but ``_base_ = ['./other.py']``."""
    code = [ln for ln in path.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith('#')]
    return len(code) == 1 and code[0].startswith('_base_')


def test_resources_come_from_the_checkout():
    assert resource_root() == REPO
    assert config_root() == REPO / 'configs'


def test_model_index_imports_every_family_metafile():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index['Import'] == [f'configs/{f}/metafile.yml' for f in FAMILIES]
    assert sorted(str(p.relative_to(REPO)) for p in
                  (REPO / 'configs').glob('*/metafile.yml')) == sorted(
                      index['Import'])


def test_metafiles_load_with_mmpretrain_modelindex():
    from modelindex.load_model_index import load
    index = load(str(REPO / 'model-index.yml'))
    index.build_models_with_collections()
    assert len(index.models) == len(MODELS)
    names = [m['Name'].lower() for m in MODELS]
    assert len(set(names)) == len(names), 'model names must be unique'


@pytest.mark.parametrize('model', MODELS, ids=[m['Name'] for m in MODELS])
def test_metafile_entry_is_complete(model):
    family = model['_metafile'].split('/')[1]
    assert model['Config'].startswith(f'configs/{family}/')
    assert (REPO / model['Config']).is_file(), model['Config']
    recipe = model['Metadata'].get('Training Config')
    if recipe:
        assert (REPO / recipe).is_file(), recipe
    assert model['_collection'], f'{model["In Collection"]} is not defined'
    assert (REPO / model['_collection']['README']).is_file()
    if model.get('Results'):
        assert model['Metadata'].get('Results Source'), (
            'published results must name their source')
    assert 'Weights' not in model, (
        'upstream files need stl_mm\'s conversion: Converted From.Weights')
    if family in ('fan', 'stl', 'lvvit'):
        md = model['Metadata']
        assert md['Parameters'] > 0 and md['FLOPs'] > 0 and md['Image Size']


def test_every_config_is_indexed():
    """Every recipe (not the demos, short-name aliases) has an entry."""
    indexed = {m['Config'] for m in MODELS} | {
        m['Metadata'].get('Training Config') for m in MODELS}
    for family in FAMILIES:
        for path in sorted((REPO / 'configs' / family).glob('*.py')):
            rel = str(path.relative_to(REPO))
            if _is_alias(path) or rel in NOT_INDEXED or 'demo' in path.name:
                continue
            assert rel in indexed, f'{rel} has no model-index entry'


def test_variant_configs_agree_with_the_hub_metafiles():
    hub = [m for m in MODELS if m['_metafile'] in HUB_METAFILES]
    by_name = {m['Name']: m for m in hub}
    for name, relpath in VARIANT_CONFIGS.items():
        assert name in by_name, f'{name} is not in a metafile'
        assert by_name[name]['Config'] == f'configs/{relpath}'
    for model in hub:
        if model['Name'] in VARIANT_CONFIGS:
            continue
        # the 22K fine-tuned files and the STL token labelers: variant
        # configs under another name
        assert model['Config'][len('configs/'):] in VARIANT_CONFIGS.values()
        assert re.search(r'_in22k_1k(_384)?$|^stl-labeler_', model['Name'])


def test_parameters_match_the_upstream_fixtures():
    if not FIXTURES.is_dir():
        pytest.skip(NO_FIXTURES)
    checked = 0
    for model in MODELS:
        if model['Name'] not in VARIANT_CONFIGS:
            continue
        fixture = FIXTURES / f'{model["Name"]}.json'
        if fixture.is_file():
            count = json.loads(fixture.read_text())['param_count']
            assert model['Metadata']['Parameters'] == count, model['Name']
            checked += 1
    assert checked >= 20


def test_flops_of_the_smallest_variant_are_measured(one_thread):
    """The metafile FLOPs are get_flops' count (checked on the cheapest
    variant; the others were counted once by the same tool)."""
    from stl_mm.apis.complexity import model_complexity
    model = next(m for m in MODELS if m['Name'] == 'fan_tiny_12_p16_224')
    result = model_complexity('fan_tiny_12_p16_224', (224, 224))
    assert model['Metadata']['FLOPs'] == round(result['macs'], -7)
    assert model['Metadata']['Parameters'] == result['params']


def test_readme_tables_are_generated_from_the_metafiles():
    assert update_tables(str(REPO), check=True) == [], (
        'run python tools/misc/update_model_zoo_tables.py')
    readme = (REPO / 'README.md').read_text()
    for kind in ('in1k', 'in22k'):
        assert f'<!-- model-zoo:{kind} -->' in readme
    for family in ('fan', 'stl', 'lvvit'):
        text = (REPO / 'configs' / family / 'README.md').read_text()
        assert f'<!-- model-zoo:{family} -->\n| Model |' in text


def test_variant_names_resolve_in_any_case():
    cfg = load_model_config('fan_xlarge_16_p4_hybrid')  # as the hub lists
    assert cfg.model.backbone.arch == 'fan_Xlarge_16_p4_hybrid'


def test_mmpretrain_hub_lists_and_builds_stl_mm_models(tmp_path, one_thread):
    import mmpretrain
    import torch
    listed = set(mmpretrain.list_models('*fan*'))
    want = {n.lower() for n in VARIANT_CONFIGS if n.startswith('fan')}
    assert want <= listed, want - listed
    assert set(mmpretrain.list_models('lvvit')) >= {'lvvit_t', 'lvvit_s'}

    model = mmpretrain.get_model('fan_tiny_12_p16_224')
    assert type(model).__name__ == 'ImageClassifier'
    assert type(model.backbone).__name__ == 'FAN'
    assert model.backbone.arch_name == 'fan_tiny_12_p16_224'
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64), mode='tensor').shape == (1,
                                                                       1000)

    image = tmp_path / 'img.png'
    Image.fromarray(np.random.default_rng(0).integers(
        0, 255, (80, 96, 3), dtype=np.uint8)).save(image)
    inferencer = mmpretrain.ImageClassificationInferencer(
        'fan_tiny_12_p16_224', pretrained=False)
    result = inferencer(str(image))[0]
    assert result['pred_scores'].shape == (1000, )
    assert isinstance(result['pred_class'], str)  # ImageNet names


def test_hub_configs_are_the_variant_configs():
    from mmpretrain.apis.model import ModelHub
    meta = ModelHub.get('fan_tiny_8_p4_hybrid_token')
    assert isinstance(meta.config, Config)
    assert meta.config.filename == str(
        REPO / 'configs' / VARIANT_CONFIGS['fan_tiny_8_p4_hybrid_token'])


def test_stale_tables_are_found_and_rewritten(tmp_path):
    """A metafile change shows up as an out-of-date table until the tool
    rewrites it."""
    import shutil
    for rel in ['README.md', 'model-index.yml'] + [
            str(p.relative_to(REPO)) for p in (REPO / 'configs').glob('*/*')
            if p.name in ('metafile.yml', 'README.md')]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, tmp_path / rel)
    meta = tmp_path / 'configs/fan/metafile.yml'
    meta.write_text(meta.read_text().replace('Top 1 Accuracy: 79.2',
                                             'Top 1 Accuracy: 99.9', 1))
    assert set(update_tables(str(tmp_path), check=True)) == {
        'README.md', 'configs/fan/README.md'}
    assert '| 99.9 |' not in (tmp_path / 'README.md').read_text()
    update_tables(str(tmp_path))
    assert '| 99.9 |' in (tmp_path / 'README.md').read_text()
    assert update_tables(str(tmp_path), check=True) == []


def test_table_tool_checks_the_checkout():
    from stl_mm.testing import run_tool
    out = run_tool(['tools/misc/update_model_zoo_tables.py', '--check'])
    assert out.stdout.strip() == ''


def test_a_missing_config_names_the_fix():
    from stl_mm.utils.resources import find_config
    with pytest.raises(FileNotFoundError, match='pip install'):
        find_config('fan/no-such-config.py')
