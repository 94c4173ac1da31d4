"""Deterministic synthetic demo datasets (classification, Cityscapes, COCO).

Everything is drawn with numpy and written with Pillow; nothing is downloaded.
The same parameters and seed give byte-identical files (on the same numpy,
Pillow and zlib). This module imports only the standard library, numpy and
Pillow; ``tools/make_demo_data.py`` is its command line.

Objects are filled polygons (even-odd rule; a ring is an outer polygon with a
hole) at a random position, scale, aspect, rotation and colour, shaded and
composited anti-aliased over a randomly textured background (smooth noise,
stripes, a rotated checkerboard or colour blobs). The binary object mask is
the set of pixels whose centre lies inside the polygons; in the continuous
coordinates used for COCO polygons, pixel ``(x, y)`` covers
``[x, x + 1) x [y, y + 1)``.

Layout written under ``out_dir``:

``cls`` (ImageNet / mmpretrain ``CustomDataset`` style)
    ``cls/{train,val}/<class>/<idx:04d>.png`` RGB images,
    ``cls/masks/{train,val}/<class>/<idx:04d>.png`` object masks (uint8 0/255),
    ``cls/meta/{train,val}.txt`` lines ``<class>/<idx:04d>.png <label>``,
    ``cls/meta/classes.txt`` one class name per line. Class ``k`` is the shape
    ``SHAPES[k % 8]``; with more than 8 classes the hue circle is split into
    ``ceil(K / 8)`` bands and class ``k`` takes band ``k // 8`` (its name
    then ends with ``_h<band>``). The object covers about 15-45 % of the image.

    With ``cls_style='texture'`` (the STL demo's set) the class is instead the
    object's *fill pattern* (:data:`TEXTURES`: stripes, checkerboard, dots,
    cross-hatch at a random scale, angle and pair of colours), the object's
    outline is a random shape of :data:`SHAPES`, and the background is clutter
    without any class pattern (smooth noise, soft colour blobs and a few flat
    untextured shapes). Every small patch of the object is then evidence for
    the class while background patches are not: the setting in which token
    labels can find the object. The patterns repeat every 8-14 px (one to two
    periods per 16x16 token: fine patterns are aliased away by the stride-2
    convolutions of a small stem and wiped out by mild corruptions), and the
    object covers about 28-45 % of the image (with smaller objects most
    tokens are background, and a token labeler trained on the mean of its
    token logits learns to paint the background with the image class;
    docs/demo.md, recipe notes).

``seg`` (Cityscapes ``gtFine`` format)
    ``cityscapes/leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png``
    with ``<stem>`` = ``<city>_<seq:06d>_000019``, and
    ``cityscapes/gtFine/{train,val}/<city>/<stem>_gtFine_labelTrainIds.png``
    / ``<stem>_gtFine_labelIds.png``. Scenes are sky above a (slightly tilted)
    horizon, textured ground below, an ego-vehicle band at the bottom and
    3-7 non-overlapping shapes. Regions map onto Cityscapes classes
    (:data:`CITYSCAPES_MAPPING`; labelId / trainId, 255 is ignored):

    ========  ============  =======  =======
    region    Cityscapes    labelId  trainId
    ========  ============  =======  =======
    ground    road          7        0
    sky       sky           23       10
    ego band  ego vehicle   1        255
    disc      car           26       13
    square    building      11       2
    triangle  traffic sign  20       7
    cross     pole          17       5
    ring      bicycle       33       18
    star      person        24       11
    crescent  vegetation    21       8
    ell       wall          12       3
    ========  ============  =======  =======

``det`` (COCO ``instances`` format)
    ``coco/{train2017,val2017}/<image id:012d>.png`` and
    ``coco/annotations/instances_{train2017,val2017}.json`` with one category
    per shape (ids from 1), ``bbox`` ``[x, y, w, h]`` (tight box of the mask),
    ``area`` (mask pixels), ``iscrowd`` 0 and ``segmentation`` as a polygon,
    or as compressed RLE (string counts) for every fourth annotation and for
    shapes with holes (ring).

The seg/det shape vocabulary is ``SHAPES[:min(num_classes, 8)]``.

``out_dir/demo_data.json`` records the parameters of each generated task; a
task whose recorded parameters match is skipped unless ``force`` is set.
"""
import colorsys
import json
import math
import os
import os.path as osp
import shutil
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

__all__ = [
    'SHAPES', 'TEXTURES', 'CLS_STYLES', 'CITYSCAPES_MAPPING', 'TASKS',
    'MANIFEST', 'GENERATOR_VERSION', 'demo_class_names',
    'texture_class_names', 'scene_shape_names', 'cityscapes_mapping_table',
    'make_demo_data', 'rle_encode'
]

GENERATOR_VERSION = 2
MANIFEST = 'demo_data.json'
TASKS = ('cls', 'seg', 'det')
TASK_DIRS = {'cls': 'cls', 'seg': 'cityscapes', 'det': 'coco'}
_TASK_KEY = {'cls': 1, 'seg': 2, 'det': 3}
_SPLIT_KEY = {'train': 0, 'val': 1}

SHAPES = ('disc', 'square', 'triangle', 'cross', 'ring', 'star', 'crescent',
          'ell')
MAX_CLASSES = 64
# class fill patterns of cls_style='texture'
TEXTURES = ('stripes', 'checker', 'dots', 'hatch')
CLS_STYLES = ('shape', 'texture')
# texture set: pixels per pattern unit, object area (fraction of the image)
_PATTERN_UNIT = 2.
_TEXTURE_OBJECT_AREA = (0.28, 0.45)

# region -> (Cityscapes name, labelId, trainId); trainId 255 is ignored.
CITYSCAPES_MAPPING = {
    'ground': ('road', 7, 0),
    'sky': ('sky', 23, 10),
    'ego': ('ego vehicle', 1, 255),
    'disc': ('car', 26, 13),
    'square': ('building', 11, 2),
    'triangle': ('traffic sign', 20, 7),
    'cross': ('pole', 17, 5),
    'ring': ('bicycle', 33, 18),
    'star': ('person', 24, 11),
    'crescent': ('vegetation', 21, 8),
    'ell': ('wall', 12, 3),
}
CITIES = {'train': ('arden', 'bexley'), 'val': ('corby', )}
CITYSCAPES_FRAME = 19

# Polygon outlines and anti-aliasing.
_CIRCLE_VERTICES = 48
_SUPERSAMPLE = 3  # odd, so the centre sample decides the binary mask


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------
def _circle(radius: float, n: int = _CIRCLE_VERTICES,
            centre: Tuple[float, float] = (0., 0.)) -> np.ndarray:
    t = np.arange(n) * (2 * math.pi / n)
    return np.stack([centre[0] + radius * np.cos(t),
                     centre[1] + radius * np.sin(t)], axis=1)


def _unit_shape(name: str) -> List[np.ndarray]:
    """Polygons of a shape (even-odd fill), about the unit disc."""
    if name == 'disc':
        return [_circle(1.)]
    if name == 'square':
        return [np.array([[-1., -1.], [1., -1.], [1., 1.], [-1., 1.]])]
    if name == 'triangle':
        t = np.deg2rad(-90. + 120. * np.arange(3))
        return [np.stack([np.cos(t), np.sin(t)], axis=1)]
    if name == 'cross':
        a, b = 0.3, 1.
        return [np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a],
                          [a, b], [-a, b], [-a, a], [-b, a], [-b, -a],
                          [-a, -a]])]
    if name == 'ring':
        return [_circle(1.), _circle(0.55)]
    if name == 'star':
        t = np.deg2rad(-90. + 36. * np.arange(10))
        r = np.where(np.arange(10) % 2 == 0, 1., 0.45)
        return [np.stack([r * np.cos(t), r * np.sin(t)], axis=1)]
    if name == 'crescent':
        # Part of the unit circle outside a circle of radius r2 at (d, 0).
        r2, d = 0.8, 0.45
        xi = (1. - r2**2 + d**2) / (2. * d)
        yi = math.sqrt(1. - xi**2)
        a = math.atan2(yi, xi)
        b = math.atan2(yi, xi - d)
        n = _CIRCLE_VERTICES
        ta = np.linspace(a, 2 * math.pi - a, n)
        tb = np.linspace(2 * math.pi - b, b, n)[1:-1]
        outer = np.stack([np.cos(ta), np.sin(ta)], axis=1)
        inner = np.stack([d + r2 * np.cos(tb), r2 * np.sin(tb)], axis=1)
        poly = np.concatenate([outer, inner])
        return [poly - poly.mean(axis=0)]
    if name == 'ell':
        a = -0.3
        return [np.array([[-1., -1.], [1., -1.], [1., a], [a, a], [a, 1.],
                          [-1., 1.]])]
    raise KeyError(f'unknown shape {name!r}')


def _shoelace(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) -
                           np.dot(y, np.roll(x, -1))))


def _unit_area(polys: List[np.ndarray]) -> float:
    # polys[0] is the outline, the others are holes inside it.
    return _shoelace(polys[0]) - sum(_shoelace(p) for p in polys[1:])


def _inside(px: np.ndarray, py: np.ndarray,
            polys: List[np.ndarray]) -> np.ndarray:
    """Even-odd point-in-polygon test for arrays of points."""
    inside = np.zeros(px.shape, dtype=bool)
    with np.errstate(divide='ignore', invalid='ignore'):
        for poly in polys:
            xa, ya = poly[:, 0], poly[:, 1]
            xb, yb = np.roll(xa, -1), np.roll(ya, -1)
            for x1, y1, x2, y2 in zip(xa, ya, xb, yb):
                if y1 == y2:
                    continue
                crosses = (y1 > py) != (y2 > py)
                x_at = x1 + (py - y1) * ((x2 - x1) / (y2 - y1))
                inside ^= crosses & (px < x_at)
    return inside


def _place(rng: np.random.Generator, name: str, area: float,
           box: Tuple[float, float, float, float]) -> List[np.ndarray]:
    """Random rotation/aspect, scaled to ``area`` pixels and shrunk to fit
    ``box`` = (x0, y0, x1, y1); translated to a random position inside it."""
    polys = _unit_shape(name)
    theta = rng.uniform(0., 2 * math.pi)
    aspect = rng.uniform(0.85, 1.15)
    sx, sy = math.sqrt(aspect), 1. / math.sqrt(aspect)
    scale = math.sqrt(area / _unit_area(polys))
    rot = np.array([[math.cos(theta), -math.sin(theta)],
                    [math.sin(theta), math.cos(theta)]])
    polys = [(p * np.array([sx, sy])) @ rot.T for p in polys]
    allv = np.concatenate(polys)
    ext = allv.max(axis=0) - allv.min(axis=0)
    room = np.array([box[2] - box[0], box[3] - box[1]])
    scale = min(scale, float(np.min(room / ext)))
    polys = [p * scale for p in polys]
    lo = np.concatenate(polys).min(axis=0)
    hi = np.concatenate(polys).max(axis=0)
    tx = _uniform(rng, box[0] - lo[0], box[2] - hi[0])
    ty = _uniform(rng, box[1] - lo[1], box[3] - hi[1])
    return [p + np.array([tx, ty]) for p in polys]


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # A shape shrunk to fit exactly may leave ``high`` a rounding below low.
    return rng.uniform(low, max(low, high))


def _bounds(polys: List[np.ndarray], h: int,
            w: int) -> Tuple[int, int, int, int]:
    allv = np.concatenate(polys)
    x0 = max(int(math.floor(allv[:, 0].min())), 0)
    y0 = max(int(math.floor(allv[:, 1].min())), 0)
    x1 = min(int(math.ceil(allv[:, 0].max())), w)
    y1 = min(int(math.ceil(allv[:, 1].max())), h)
    return x0, y0, x1, y1


def _rasterize(polys: List[np.ndarray], h: int, w: int):
    """Coverage (anti-aliasing alpha) and centre-sample mask in the bounds."""
    x0, y0, x1, y1 = _bounds(polys, h, w)
    ss = _SUPERSAMPLE
    off = (np.arange(ss) + 0.5) / ss
    xs = (np.arange(x0, x1)[:, None] + off[None, :]).reshape(-1)
    ys = (np.arange(y0, y1)[:, None] + off[None, :]).reshape(-1)
    px, py = np.meshgrid(xs, ys)
    ins = _inside(px, py, polys).reshape(y1 - y0, ss, x1 - x0, ss)
    coverage = ins.mean(axis=(1, 3), dtype=np.float32)
    centre = ins[:, ss // 2, :, ss // 2]
    return (x0, y0, x1, y1), coverage, centre


# --------------------------------------------------------------------------
# Colours and textures
# --------------------------------------------------------------------------
def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1., s, v), dtype=np.float32) * 255


def _bg_colour(rng: np.random.Generator) -> np.ndarray:
    return _hsv(rng.uniform(), rng.uniform(0.05, 0.45),
                rng.uniform(0.25, 0.85))


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int,
                  channels: int = 1) -> np.ndarray:
    """Bilinearly upsampled random field in [0, 1], shape (h, w, channels)."""
    gh, gw = h // cell + 2, w // cell + 2
    out = []
    for _ in range(channels):
        grid = rng.uniform(0., 1., (gh, gw)).astype(np.float32)
        img = Image.fromarray(grid).resize(
            (gw * cell, gh * cell), Image.BILINEAR)
        oy, ox = rng.integers(0, cell, 2)
        out.append(np.asarray(img)[oy:oy + h, ox:ox + w])
    return np.clip(np.stack(out, axis=-1), 0., 1.)


def _coords(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + 0.5, ys + 0.5


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random textured background, float32 (h, w, 3) in [0, 255]."""
    kind = int(rng.integers(0, 4))
    c1, c2 = _bg_colour(rng), _bg_colour(rng)
    xs, ys = _coords(h, w)
    if kind == 0:  # smooth multi-scale noise between two colours
        cell = int(rng.integers(4, 13))
        t = 0.65 * _smooth_noise(rng, h, w, cell) + 0.35 * _smooth_noise(
            rng, h, w, max(cell // 3, 2))
    elif kind == 1:  # stripes (sine or square wave) at a random angle
        theta = rng.uniform(0., math.pi)
        period = rng.uniform(5., 18.)
        u = xs * math.cos(theta) + ys * math.sin(theta)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * u / period + rng.uniform(0, 7))
        if rng.uniform() < 0.5:
            t = (t > 0.5).astype(np.float32)
        t = t[..., None]
    elif kind == 2:  # rotated checkerboard
        theta = rng.uniform(0., math.pi / 2)
        cell = rng.uniform(4., 14.)
        u = xs * math.cos(theta) + ys * math.sin(theta)
        v = -xs * math.sin(theta) + ys * math.cos(theta)
        t = ((np.floor(u / cell) + np.floor(v / cell)) % 2)[..., None]
    else:  # colour blobs on a base colour
        img = np.broadcast_to(c1, (h, w, 3)).astype(np.float32)
        for _ in range(int(rng.integers(4, 10))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            sigma = rng.uniform(0.06, 0.2) * min(h, w)
            g = np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * sigma**2))
            g = (rng.uniform(0.5, 1.) * g)[..., None]
            img = img * (1 - g) + _bg_colour(rng) * g
        return _add_noise(rng, img, 4.)
    img = c1 * (1 - t) + c2 * t
    return _add_noise(rng, img.astype(np.float32), 4.)


def _add_noise(rng: np.random.Generator, img: np.ndarray,
               sigma: float) -> np.ndarray:
    return img + rng.normal(0., sigma, img.shape).astype(np.float32)


def _object_colour(rng: np.random.Generator, hue_band: Tuple[float, float],
                   avoid: np.ndarray) -> np.ndarray:
    """A saturated colour in the hue band, far from ``avoid`` (RGB)."""
    best, best_d = None, -1.
    for _ in range(24):
        c = _hsv(rng.uniform(*hue_band), rng.uniform(0.6, 1.),
                 rng.uniform(0.5, 1.))
        d = float(np.linalg.norm(c - avoid))
        if d > best_d:
            best, best_d = c, d
        if d > 110.:
            break
    return best


def _draw(rng: np.random.Generator, img: np.ndarray, polys: List[np.ndarray],
          colour: np.ndarray) -> Tuple[Tuple[int, int, int, int], np.ndarray]:
    """Composite a shaded object into ``img`` in place; returns the bounds
    and the binary (centre-sample) mask inside them."""
    h, w = img.shape[:2]
    (x0, y0, x1, y1), cov, centre = _rasterize(polys, h, w)
    xs, ys = _coords(y1 - y0, x1 - x0)
    phi = rng.uniform(0., 2 * math.pi)
    ext = max(x1 - x0, y1 - y0, 1)
    u = ((xs - (x1 - x0) / 2) * math.cos(phi) +
         (ys - (y1 - y0) / 2) * math.sin(phi)) / ext
    shade = 1. + rng.uniform(0.1, 0.3) * u
    fill = colour * shade[..., None]
    fill = _add_noise(rng, fill, 3.)
    alpha = cov[..., None]
    region = img[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = region * (1 - alpha) + fill * alpha
    return (x0, y0, x1, y1), centre


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _save_png(array: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, format='PNG')


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


# --------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------
def _class_specs(num_classes: int) -> List[Tuple[str, str, Tuple[float,
                                                                  float]]]:
    """(name, shape, hue band) of each class."""
    n = len(SHAPES)
    bands = -(-num_classes // n)
    specs = []
    for k in range(num_classes):
        shape, band = SHAPES[k % n], k // n
        name = f'class_{k:02d}_{shape}'
        if bands > 1:
            name += f'_h{band}'
        specs.append((name, shape, (band / bands, (band + 1) / bands)))
    return specs


def demo_class_names(num_classes: int = 4) -> List[str]:
    """Class names of the classification set, in label order."""
    _check_num_classes(num_classes)
    return [s[0] for s in _class_specs(num_classes)]


def scene_shape_names(num_classes: int = 4) -> List[str]:
    """Object categories of the seg/det scenes (COCO categories 1..n)."""
    _check_num_classes(num_classes)
    return list(SHAPES[:min(num_classes, len(SHAPES))])


def cityscapes_mapping_table() -> str:
    """The region -> Cityscapes label mapping as a text table."""
    lines = ['region    cityscapes class  labelId  trainId']
    for region, (name, label_id, train_id) in CITYSCAPES_MAPPING.items():
        lines.append(f'{region:<9} {name:<17} {label_id:>7}  {train_id:>7}')
    return '\n'.join(lines)


# --------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------
def _cls_sample(seed: int, split: str, label: int, idx: int, size: int,
                spec) -> Tuple[np.ndarray, np.ndarray]:
    _, shape, band = spec
    rng = _rng(seed, _TASK_KEY['cls'], _SPLIT_KEY[split], label, idx)
    img = _texture(rng, size, size)
    frac = rng.uniform(0.18, 0.40)
    polys = _place(rng, shape, frac * size * size,
                   (1., 1., size - 1., size - 1.))
    colour = _object_colour(rng, band, img.reshape(-1, 3).mean(axis=0))
    (x0, y0, x1, y1), centre = _draw(rng, img, polys, colour)
    img = _add_noise(rng, img, 2.)
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[y0:y1, x0:x1][centre] = 255
    return _to_uint8(img), mask


def _pattern(rng: np.random.Generator, kind: str, h: int,
             w: int) -> np.ndarray:
    """A class fill pattern in [0, 1], shape (h, w, 1), with a period of
    8-14 px (checkerboard cells 5-8 px): one to two repeats per 16x16
    token."""
    xs, ys = _coords(h, w)
    # pattern units of 2 px: the periods below are 4-7 units
    xs, ys = xs / _PATTERN_UNIT, ys / _PATTERN_UNIT
    theta = rng.uniform(0., math.pi)
    u = xs * math.cos(theta) + ys * math.sin(theta)
    v = -xs * math.sin(theta) + ys * math.cos(theta)
    if kind == 'stripes':
        period = rng.uniform(4., 7.)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * u / period)
    elif kind == 'checker':
        cell = rng.uniform(2.5, 4.)
        t = (np.floor(u / cell) + np.floor(v / cell)) % 2
    elif kind == 'dots':
        period = rng.uniform(5., 7.)
        du = (u / period) % 1. - 0.5
        dv = (v / period) % 1. - 0.5
        r = np.sqrt(du**2 + dv**2) * period
        t = np.clip(rng.uniform(1.4, 1.9) + 0.5 - r, 0., 1.)
    elif kind == 'hatch':
        period = rng.uniform(5., 7.)
        width = 1.2
        du = np.abs((u / period) % 1. - 0.5) * period
        dv = np.abs((v / period) % 1. - 0.5) * period
        t = np.clip(width + 0.5 - np.minimum(du, dv), 0., 1.)
    else:
        raise KeyError(f'unknown texture {kind!r}')
    return t.astype(np.float32)[..., None]


def _noise32(rng: np.random.Generator, img: np.ndarray,
             sigma: float) -> np.ndarray:
    # float32 draws (several times faster than ``rng.normal``)
    return img + sigma * rng.standard_normal(img.shape, dtype=np.float32)


def _raster_fast(polys: List[np.ndarray], h: int, w: int):
    """As :func:`_rasterize` (bounds, coverage, centre-sample mask) but
    drawn with Pillow on a supersampled canvas: outline filled, later
    polygons (holes) cleared."""
    from PIL import ImageDraw
    x0, y0, x1, y1 = _bounds(polys, h, w)
    ss = _SUPERSAMPLE
    canvas = Image.new('L', ((x1 - x0) * ss, (y1 - y0) * ss), 0)
    draw = ImageDraw.Draw(canvas)
    for i, poly in enumerate(polys):
        pts = [((x - x0) * ss - 0.5, (y - y0) * ss - 0.5) for x, y in poly]
        draw.polygon(pts, fill=0 if i else 1)
    ins = np.asarray(canvas, dtype=bool).reshape(y1 - y0, ss, x1 - x0, ss)
    coverage = ins.mean(axis=(1, 3), dtype=np.float32)
    centre = ins[:, ss // 2, :, ss // 2]
    return (x0, y0, x1, y1), coverage, centre


def _clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    """Background without any class pattern: smooth noise between two
    colours, soft colour blobs and a few flat shapes."""
    xs, ys = _coords(size, size)
    c1, c2 = _bg_colour(rng), _bg_colour(rng)
    cell = int(rng.integers(size // 8, size // 3))
    t = _smooth_noise(rng, size, size, cell)
    img = c1 * (1 - t) + c2 * t
    img = img.astype(np.float32)
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(0, size), rng.uniform(0, size)
        sigma = rng.uniform(0.06, 0.18) * size
        strength = rng.uniform(0.5, 1.)
        colour = _hsv(rng.uniform(), rng.uniform(0.2, 0.9),
                      rng.uniform(0.3, 1.))
        # the blob within 3 sigma of its centre (the rest is < 1 %)
        x0, x1 = max(int(cx - 3 * sigma), 0), min(int(cx + 3 * sigma) + 1,
                                                  size)
        y0, y1 = max(int(cy - 3 * sigma), 0), min(int(cy + 3 * sigma) + 1,
                                                  size)
        if x0 >= x1 or y0 >= y1:
            continue
        bx, by = xs[y0:y1, x0:x1], ys[y0:y1, x0:x1]
        g = np.exp(-((bx - cx)**2 + (by - cy)**2) / (2 * sigma**2))
        g = (strength * g).astype(np.float32)[..., None]
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - g) + colour * g
    for _ in range(int(rng.integers(1, 4))):
        shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
        polys = _place(rng, shape, rng.uniform(0.01, 0.04) * size * size,
                       (0., 0., float(size), float(size)))
        colour = _hsv(rng.uniform(), rng.uniform(0.2, 0.9),
                      rng.uniform(0.3, 1.))
        (x0, y0, x1, y1), cov, _ = _raster_fast(polys, size, size)
        alpha = cov[..., None]
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - alpha) + colour * alpha
    return img  # (noise is added once, to the whole image)


def _texture_sample(seed: int, split: str, label: int, idx: int, size: int,
                    kind: str) -> Tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed, _TASK_KEY['cls'], _SPLIT_KEY[split], label, idx, 7)
    img = _clutter(rng, size)
    shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
    margin = size / 16
    polys = _place(rng, shape, rng.uniform(*_TEXTURE_OBJECT_AREA) * size *
                   size, (margin, margin, size - margin, size - margin))
    (x0, y0, x1, y1), cov, centre = _raster_fast(polys, size, size)
    # two contrasting colours of the pattern, random hues
    hue = rng.uniform()
    a = _hsv(hue, rng.uniform(0.5, 1.), rng.uniform(0.75, 1.))
    b = _hsv(hue + rng.uniform(0.25, 0.75), rng.uniform(0.3, 1.),
             rng.uniform(0.1, 0.4))
    t = _pattern(rng, kind, size, size)[y0:y1, x0:x1]
    fill = a * t + b * (1 - t)
    alpha = cov[..., None]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - alpha) + fill * alpha
    img = _noise32(rng, img, 3.)
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[y0:y1, x0:x1][centre] = 255
    return _to_uint8(img), mask


def _cls_names(p: dict) -> List[str]:
    if p.get('style', 'shape') == 'texture':
        return texture_class_names(p['num_classes'])
    return [spec[0] for spec in _class_specs(p['num_classes'])]


def _cls_sample_of(p: dict, split: str, label: int,
                   idx: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(image, mask)`` of one classification sample; it depends only on
    the parameters and ``(split, label, idx)``, so samples can be drawn in
    any order and in any process."""
    size = p['img_size']
    if p.get('style', 'shape') == 'texture':
        return _texture_sample(p['seed'], split, label, idx, size,
                               TEXTURES[label])
    spec = _class_specs(p['num_classes'])[label]
    return _cls_sample(p['seed'], split, label, idx, size, spec)


def _write_cls_samples(root: str, p: dict, split: str,
                       items: Sequence[Tuple[int, int]]) -> None:
    """Write the images and masks of ``items`` = ``[(label, idx), ...]``."""
    names = _cls_names(p)
    for label, idx in items:
        img, mask = _cls_sample_of(p, split, label, idx)
        rel = f'{names[label]}/{idx:04d}.png'
        _save_png(img, osp.join(root, split, rel))
        _save_png(mask, osp.join(root, 'masks', split, rel))


def _make_cls(root: str, p: dict, log: Callable, workers: int = 1) -> dict:
    """Write the classification set, with ``workers`` processes (the files
    do not depend on their number)."""
    names = _cls_names(p)
    kind = ('texture classes' if p.get('style', 'shape') == 'texture' else
            'classes')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.write(''.join(name + '\n' for name in names))
    jobs = []
    counts = {}
    for split in ('train', 'val'):
        n = p[f'{split}_per_class']
        items = [(label, i) for label in range(len(names)) for i in range(n)]
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{names[label]}/{i:04d}.png {label}\n'
                            for label, i in items))
        counts[split] = len(items)
        # chunks of ~64 samples per job
        jobs += [(split, items[k:k + 64]) for k in range(0, len(items), 64)]
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            for future in [pool.submit(_write_cls_samples, root, p, split,
                                       chunk) for split, chunk in jobs]:
                future.result()
    else:
        for split, chunk in jobs:
            _write_cls_samples(root, p, split, chunk)
    log(f'cls: {len(names)} {kind}, {counts["train"]} train / '
        f'{counts["val"]} val images of {p["img_size"]}x{p["img_size"]}')
    return dict(classes=names, num_images=counts)


def texture_class_names(num_classes: int = 4) -> List[str]:
    """Class names of the ``cls_style='texture'`` set, in label order."""
    if not isinstance(num_classes, int) or not 2 <= num_classes <= len(
            TEXTURES):
        raise ValueError(f"cls_style='texture' has 2 to {len(TEXTURES)} "
                         f'classes, got {num_classes!r}')
    return [f'class_{k:02d}_{TEXTURES[k]}' for k in range(num_classes)]


# --------------------------------------------------------------------------
# Scenes (shared by seg and det)
# --------------------------------------------------------------------------
def _scene(seed: int, task: str, split: str, idx: int, h: int, w: int,
           shapes: Sequence[str]):
    """An RGB scene, its region map and its instances.

    Returns ``(img uint8 (h, w, 3), regions, instances)``: ``regions`` is a
    list of (name, bool mask) in paint order (later wins), ``instances`` a
    list of dicts with ``shape``, ``polys`` and the full-size bool ``mask``.
    """
    rng = _rng(seed, _TASK_KEY[task], _SPLIT_KEY[split], idx)
    ego_h = max(h // 16, 2)
    horizon0 = rng.uniform(0.25, 0.45) * h
    slope = rng.uniform(-0.08, 0.08)
    xs, ys = _coords(h, w)
    sky = ys < horizon0 + slope * (xs - w / 2)
    ego = ys >= h - ego_h

    ground = _texture(rng, h, w)
    top = _hsv(rng.uniform(0.52, 0.66), rng.uniform(0.2, 0.6),
               rng.uniform(0.7, 1.))
    clouds = _smooth_noise(rng, h, w, int(rng.integers(12, 33)))
    sky_img = top * (0.75 + 0.25 * ys[..., None] / h)
    sky_img = sky_img * (1 - 0.5 * clouds) + 240. * 0.5 * clouds
    img = np.where(sky[..., None], sky_img, ground).astype(np.float32)
    img[ego] = _add_noise(rng, np.full((int(ego.sum()), 3), 45., np.float32),
                          3.)

    instances = []
    boxes = []
    gap = 2
    n = int(rng.integers(3, 8))
    for _ in range(n):
        shape = shapes[int(rng.integers(0, len(shapes)))]
        area = rng.uniform(0.015, 0.06) * h * w
        for _attempt in range(30):
            polys = _place(rng, shape, area, (1., 1., w - 1., h - ego_h - 1.))
            x0, y0, x1, y1 = _bounds(polys, h, w)
            if all(x0 >= bx1 + gap or x1 + gap <= bx0 or y0 >= by1 + gap
                   or y1 + gap <= by0 for bx0, by0, bx1, by1 in boxes):
                break
        else:
            continue
        boxes.append((x0, y0, x1, y1))
        colour = _object_colour(rng, (0., 1.),
                                img[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0))
        (x0, y0, x1, y1), centre = _draw(rng, img, polys, colour)
        mask = np.zeros((h, w), dtype=bool)
        mask[y0:y1, x0:x1] = centre
        if mask.any():
            instances.append(dict(shape=shape, polys=polys, mask=mask))
    img = _add_noise(rng, img, 2.)
    regions = [('ground', np.ones((h, w), bool)), ('sky', sky), ('ego', ego)]
    regions += [(inst['shape'], inst['mask']) for inst in instances]
    return _to_uint8(img), regions, instances


def _make_seg(root: str, p: dict, log: Callable) -> dict:
    h, w = p['scene_size']
    shapes = scene_shape_names(p['num_classes'])
    counts = {}
    for split in ('train', 'val'):
        cities = CITIES[split]
        n = p[f'scene_{split}']
        for i in range(n):
            city = cities[i % len(cities)]
            stem = f'{city}_{i:06d}_{CITYSCAPES_FRAME:06d}'
            img, regions, _ = _scene(p['seed'], 'seg', split, i, h, w, shapes)
            train_ids = np.full((h, w), 255, dtype=np.uint8)
            label_ids = np.zeros((h, w), dtype=np.uint8)
            for region, mask in regions:
                _, label_id, train_id = CITYSCAPES_MAPPING[region]
                train_ids[mask] = train_id
                label_ids[mask] = label_id
            _save_png(img, osp.join(root, 'leftImg8bit', split, city,
                                    f'{stem}_leftImg8bit.png'))
            gt = osp.join(root, 'gtFine', split, city, f'{stem}_gtFine_')
            _save_png(train_ids, gt + 'labelTrainIds.png')
            _save_png(label_ids, gt + 'labelIds.png')
        counts[split] = n
    log(f'seg: Cityscapes format, {counts["train"]} train / {counts["val"]} '
        f'val scenes of {h}x{w}, shapes {shapes}')
    return dict(shapes=shapes, num_images=counts,
                mapping={k: list(v) for k, v in CITYSCAPES_MAPPING.items()})


def rle_encode(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a binary (h, w) mask: ``{'size', 'counts'}``
    with ``counts`` a str, as ``pycocotools.mask.encode`` (decoded) gives."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    flat = mask.reshape(-1, order='F').astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs  # counts start with a run of zeros
    chars = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1f
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return {'size': [int(h), int(w)], 'counts': ''.join(chars)}


def _make_det(root: str, p: dict, log: Callable) -> dict:
    h, w = p['scene_size']
    shapes = scene_shape_names(p['num_classes'])
    categories = [dict(id=k + 1, name=s, supercategory='shape')
                  for k, s in enumerate(shapes)]
    counts = {}
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split in ('train', 'val'):
        folder = f'{split}2017'
        images, annotations = [], []
        for i in range(p[f'scene_{split}']):
            image_id = i + 1
            file_name = f'{image_id:012d}.png'
            img, _, instances = _scene(p['seed'], 'det', split, i, h, w,
                                       shapes)
            _save_png(img, osp.join(root, folder, file_name))
            images.append(dict(id=image_id, file_name=file_name, height=h,
                               width=w))
            for inst in instances:
                mask = inst['mask']
                ys, xs = np.nonzero(mask)
                x0, y0 = int(xs.min()), int(ys.min())
                bw, bh = int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0
                ann_id = len(annotations) + 1
                if len(inst['polys']) > 1 or ann_id % 4 == 0:
                    segm = rle_encode(mask)
                else:
                    segm = [[round(float(v), 2) for v in inst['polys'][0]
                             .reshape(-1)]]
                annotations.append(dict(
                    id=ann_id, image_id=image_id,
                    category_id=shapes.index(inst['shape']) + 1,
                    bbox=[float(x0), float(y0), float(bw), float(bh)],
                    area=float(mask.sum()), iscrowd=0, segmentation=segm))
        coco = dict(
            info=dict(description='stl_mm synthetic demo data',
                      version=str(GENERATOR_VERSION), year=2017,
                      contributor='stl_mm', date_created='2017-01-01'),
            licenses=[dict(id=1, name='CC0 1.0', url='')],
            images=images, annotations=annotations, categories=categories)
        with open(osp.join(root, 'annotations', f'instances_{folder}.json'),
                  'w') as f:
            json.dump(coco, f, separators=(',', ':'))
        counts[split] = dict(images=len(images), instances=len(annotations))
    log(f'det: COCO format, {counts["train"]["images"]} train / '
        f'{counts["val"]["images"]} val scenes of {h}x{w} '
        f'({counts["train"]["instances"]} / {counts["val"]["instances"]} '
        f'instances), categories {shapes}')
    return dict(classes=shapes, num_images=counts)


_MAKERS = {'cls': _make_cls, 'seg': _make_seg, 'det': _make_det}


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------
def _check_num_classes(num_classes: int) -> None:
    if not isinstance(num_classes, int) or not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'num_classes must be an integer in [2, '
                         f'{MAX_CLASSES}], got {num_classes!r}')


def _check_params(tasks, num_classes, train_per_class, val_per_class,
                  img_size, scene_train, scene_val, scene_size, seed) -> None:
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f'tasks must be a non-empty subset of {TASKS}, got '
                         f'{list(tasks)!r}')
    _check_num_classes(num_classes)
    for name, value in (('train_per_class', train_per_class),
                        ('val_per_class', val_per_class),
                        ('scene_train', scene_train),
                        ('scene_val', scene_val)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f'{name} must be a positive integer, got '
                             f'{value!r}')
    if not isinstance(img_size, int) or img_size < 32 or img_size % 16:
        raise ValueError(f'img_size must be a multiple of 16 (the FAN patch '
                         f'size) and at least 32, got {img_size!r}')
    if (len(scene_size) != 2 or
            any(not isinstance(s, int) or s < 64 or s % 32
                for s in scene_size)):
        raise ValueError(f'scene_size (height, width) must be multiples of '
                         f'32 and at least 64, got {tuple(scene_size)!r}')
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')


def _task_params(task: str, num_classes, train_per_class, val_per_class,
                 img_size, scene_train, scene_val, scene_size,
                 seed, cls_style='shape') -> dict:
    p = dict(generator_version=GENERATOR_VERSION, seed=seed,
             num_classes=num_classes)
    if task == 'cls':
        p.update(train_per_class=train_per_class,
                 val_per_class=val_per_class, img_size=img_size)
        if cls_style != 'shape':  # (manifests of the shape set unchanged)
            p['style'] = cls_style
    else:
        p.update(scene_train=scene_train, scene_val=scene_val,
                 scene_size=list(scene_size))
    return p


def _read_manifest(out_dir: str) -> dict:
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        return {}
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _write_manifest(out_dir: str, manifest: dict) -> None:
    tmp = osp.join(out_dir, MANIFEST + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write('\n')
    os.replace(tmp, osp.join(out_dir, MANIFEST))


def make_demo_data(out_dir: str,
                   tasks: Sequence[str] = ('cls', ),
                   num_classes: int = 4,
                   train_per_class: int = 32,
                   val_per_class: int = 8,
                   img_size: int = 64,
                   scene_train: int = 16,
                   scene_val: int = 4,
                   scene_size: Sequence[int] = (128, 256),
                   seed: int = 0,
                   force: bool = False,
                   log: Optional[Callable[[str], None]] = print,
                   cls_style: str = 'shape',
                   workers: int = 1) -> Dict[str, str]:
    """Write the demo datasets of ``tasks`` under ``out_dir``.

    ``cls_style`` chooses what makes a classification class: ``'shape'``
    (the object's outline) or ``'texture'`` (its fill pattern; 2-4
    classes, see the module docstring). ``workers`` processes write the
    classification images (the files are the same for any number).

    Returns ``{task: 'generated' | 'skipped'}``. A task is skipped when
    ``out_dir/demo_data.json`` records the same parameters for it and its
    folder exists; ``force`` regenerates it. A task folder that exists
    without a manifest entry is not overwritten unless ``force`` is set.
    Raises ``ValueError`` for invalid parameters.
    """
    log = log or (lambda msg: None)
    tasks = list(dict.fromkeys(tasks))
    scene_size = tuple(scene_size)
    _check_params(tasks, num_classes, train_per_class, val_per_class,
                  img_size, scene_train, scene_val, scene_size, seed)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f'workers must be a positive integer, got '
                         f'{workers!r}')
    if cls_style not in CLS_STYLES:
        raise ValueError(f'cls_style must be one of {CLS_STYLES}, got '
                         f'{cls_style!r}')
    if cls_style == 'texture' and 'cls' in tasks:
        texture_class_names(num_classes)  # checks the class count
    os.makedirs(out_dir, exist_ok=True)
    manifest = _read_manifest(out_dir)
    recorded = manifest.get('tasks', {})
    if not isinstance(recorded, dict):
        recorded = {}
    result = {}
    for task in tasks:
        params = _task_params(task, num_classes, train_per_class,
                              val_per_class, img_size, scene_train, scene_val,
                              scene_size, seed, cls_style)
        final = osp.join(out_dir, TASK_DIRS[task])
        entry = recorded.get(task)
        known = isinstance(entry, dict)
        if (not force and known and entry.get('params') == params
                and osp.isdir(final)):
            log(f'{task}: {final} already holds this data (same parameters '
                f'and seed, see {MANIFEST}); skipped (use --force to '
                f'regenerate)')
            result[task] = 'skipped'
            continue
        if osp.exists(final) and not known and not force:
            raise FileExistsError(
                f'{final} exists but {osp.join(out_dir, MANIFEST)} has no '
                f'record of it; refusing to overwrite it (use --force)')
        tmp = osp.join(out_dir, f'.{TASK_DIRS[task]}.tmp')
        if osp.exists(tmp):
            shutil.rmtree(tmp)
        if task == 'cls':
            info = _make_cls(tmp, params, log, workers=workers)
        else:
            info = _MAKERS[task](tmp, params, log)
        if osp.isdir(final):
            shutil.rmtree(final)
        elif osp.exists(final):
            os.remove(final)
        os.replace(tmp, final)
        recorded[task] = dict(params=params, path=TASK_DIRS[task], **info)
        manifest = dict(generator='stl_mm.datasets.demo_data',
                        tasks=recorded)
        _write_manifest(out_dir, manifest)
        result[task] = 'generated'
    return result
