"""The friendly-error wrapper: whole messages, hints only where they apply,
our own checks recognised, and typos in --cfg-options keys refused."""
import pytest
from mmengine.config import Config

from stl_mm.utils.cli import explain, friendly_errors
from stl_mm.utils.config_options import check_cfg_options
from stl_mm.utils.errors import UserError


def test_whole_message_and_no_unrelated_hint(capsys):
    with pytest.raises(SystemExit) as info, friendly_errors():
        raise UserError('Class folder n01440764 is missing.\nIt is class 0.')
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: Class folder n01440764 is missing.\nIt is '
                          'class 0.\n')
    assert 'data_root' not in err
    # a missing checkpoint or config gets no dataset hint
    error = FileNotFoundError('Checkpoint file not found: "x.pth"')
    assert explain(error) == 'Checkpoint file not found: "x.pth"'
    # an unknown error keeps its traceback
    with pytest.raises(ZeroDivisionError), friendly_errors():
        1 / 0


def test_our_explicit_raise_is_user_facing():
    from stl_mm.datasets.transforms import ImageCorruption
    with pytest.raises(ValueError) as info:
        ImageCorruption('fogg', 1)
    assert 'fogg' in explain(info.value)
    # a library bug (not an explicit raise of ours) is not
    with pytest.raises(TypeError) as info:
        len(5)
    assert explain(info.value) is None


def test_worker_traceback_text_is_reduced_to_the_message():
    text = ('Caught ValueError in DataLoader worker process 0.\n'
            'Original Traceback (most recent call last):\n'
            '  File "/x/torch/utils/data/_utils/worker.py", line 1, in f\n'
            '    data = fetcher.fetch(index)\n'
            '  File "/nowhere/stl_mm/datasets/x.py", line 2, in g\n'
            '    raise ValueError(\n'
            'ValueError: Class folder n01440764 is missing\n'
            'and class 0 has no images.')
    error = UserError(text)
    assert explain(error) == ('Class folder n01440764 is missing\nand class '
                              '0 has no images.')


def test_mmengine_rebuild_prefix_is_dropped():
    try:
        try:
            raise UserError('the real message')
        except UserError as inner:
            raise UserError(f'class `X` in y.py: {inner}')
    except UserError as outer:
        assert explain(outer) == 'the real message'


def test_unexpected_keyword_names_class_and_key():
    error = TypeError("FAN.__init__() got an unexpected keyword argument "
                      "'drop_path_rat'")
    message = explain(error)
    assert "FAN" in message and "'drop_path_rat'" in message


def test_cfg_option_typos_are_refused():
    cfg = Config(dict(train_dataloader=dict(batch_size=4, dataset=dict(
        data_root='x', pipeline=[dict(type='A')])), train_cfg=dict(
            max_epochs=2), model=dict(head=dict(num_classes=3))))
    for typo, fix in (('trian_dataloader.batch_size', 'train_dataloader'),
                      ('train_cfg.max_epoch', 'train_cfg.max_epochs'),
                      ('model.haed.num_classes', 'model.head')):
        with pytest.raises(UserError) as info:
            check_cfg_options(cfg, {typo: 1})
        assert typo in str(info.value) and fix in str(info.value)
    # existing keys, new keys without a near namesake and list indices pass
    check_cfg_options(cfg, {'train_dataloader.batch_size': 2,
                            'train_dataloader.dataset.indices': 8,
                            'train_dataloader.dataset.pipeline.0.type': 'B',
                            'model.backbone.init_cfg.type': 'Pretrained',
                            'work_dir': 'w'})


def test_teacher_and_student_view_shapes_are_one_line():
    """A pipeline that crops the student view only: the STL preprocessor's
    message reaches the user alone."""
    import numpy as np
    import torch
    from mmpretrain.structures import DataSample

    from stl_mm.models.utils.data_preprocessor import STLDataPreprocessor
    samples = []
    for _ in range(2):
        sample = DataSample().set_gt_label(0)
        sample.set_field(np.zeros((97, 143, 3), np.uint8), 'teacher_img')
        samples.append(sample)
    preprocessor = STLDataPreprocessor(num_classes=4, mean=[0, 0, 0],
                                       std=[1, 1, 1])
    data = dict(inputs=[torch.zeros(3, 64, 64, dtype=torch.uint8)] * 2,
                data_samples=samples)
    with pytest.raises(ValueError) as info:
        preprocessor(data, training=True)
    assert explain(info.value).startswith(
        'The teacher view (2, 3, 97, 143) and the student view (2, 3, 64, 64)'
        ' differ in shape')
