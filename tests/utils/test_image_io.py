"""One verdict on broken image files, from the data loaders and from
tools/make_corrupted_dataset.py alike: empty files and truncated JPEG/PNG
files are refused, naming the file."""
import importlib.util
import os
import sys

import cv2
import numpy as np
import pytest

from stl_mm.utils.image_io import ImageReadError, read_image
from stl_mm.datasets.transforms import LoadImageFromFile
from stl_mm.utils.cli import explain

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _image(seed=0, h=48, w=40):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, (h, w, 3), dtype=np.uint8)


def write_broken(folder):
    """{kind: path}: an empty PNG, truncated JPEG/PNG, random bytes."""
    os.makedirs(folder, exist_ok=True)
    ok, jpeg = cv2.imencode('.jpg', _image())
    ok, png = cv2.imencode('.png', _image(1))
    files = {'empty': 'empty.png', 'jpeg': 'cut.jpg', 'png': 'cut.png',
             'random': 'noise.jpg'}
    files = {k: os.path.join(folder, v) for k, v in files.items()}
    contents = {'empty': b'', 'jpeg': jpeg.tobytes()[:len(jpeg) // 2],
                'png': png.tobytes()[:len(png) // 2],
                'random': b'\x00not an image' * 20}
    for kind, path in files.items():
        with open(path, 'wb') as f:
            f.write(contents[kind])
    return files


REASONS = {'empty': 'the file is empty (0 bytes)', 'jpeg': 'truncated JPEG',
           'png': 'truncated PNG', 'random': 'cv2 decoder cannot read it'}


def test_reader_and_loader_refuse_broken_files(tmp_path):
    good = str(tmp_path / 'good.jpg')
    cv2.imwrite(good, _image())
    assert read_image(good).shape == (48, 40, 3)
    loaded = LoadImageFromFile()(dict(img_path=good))
    assert loaded['img'].shape == (48, 40, 3)
    assert np.array_equal(loaded['img'], cv2.imread(good))

    files = write_broken(str(tmp_path))
    # cv2 alone decodes the truncated JPEG (grey lower half) without error
    assert cv2.imread(files['jpeg']) is not None
    for kind, path in files.items():
        for read in (read_image,
                     lambda p: LoadImageFromFile()(dict(img_path=p))):
            with pytest.raises(ImageReadError) as info:
                read(path)
            message = explain(info.value)
            assert path in message and REASONS[kind] in message, message
    assert LoadImageFromFile(ignore_empty=True)(
        dict(img_path=files['empty'])) is None


def test_corrupted_dataset_writer_gives_the_same_verdict(tmp_path, capsys):
    pytest.importorskip('imagecorruptions')
    spec = importlib.util.spec_from_file_location(
        '_tool_make_corrupted_dataset',
        os.path.join(REPO, 'tools', 'make_corrupted_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool
    spec.loader.exec_module(tool)
    src = tmp_path / 'src' / 'n01440764'
    os.makedirs(src)
    cv2.imwrite(str(src / 'fine.JPEG'), _image())
    broken = write_broken(str(src))
    out = tmp_path / 'out'
    assert tool.main([str(tmp_path / 'src'), str(out), '--corruptions',
                      'brightness', '--severities', '1', '--no-progress']) == 1
    err = capsys.readouterr().err
    assert f'{len(broken)} unreadable input(s)' in err
    for path in broken.values():
        assert os.path.basename(path) in err
    written = [f for _, _, fs in os.walk(out) for f in fs]
    assert written == ['fine.JPEG']
