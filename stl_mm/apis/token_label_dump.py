"""Write offline token-label maps: run a token model once over a data set.

One ``.pt`` file per image, at the image's path relative to the data root
with the suffix replaced (a mirrored folder tree), holding the
TokenLabeling format: a ``[2, k, H, W]`` tensor, ``[0]`` the top-k token
logits and ``[1]`` their class indices (float16; float32 when the model has
more than 2048 classes, which float16 cannot index exactly) on the model's
``H x W`` token grid. The whole image is resized to ``img_size x img_size``
(no centre crop), so the map covers exactly the image that the training
crops' coordinates refer to.

Existing files are skipped (resumable; every file is written to a temporary
name and renamed, so an interrupted run leaves no partial map). Under a
distributed launch (``torchrun``/``tools/dist_test.sh``-style) every rank
takes every ``world_size``-th image.
"""
import os
import os.path as osp
from typing import List, Optional

import torch

__all__ = ['dump_token_labels', 'find_images', 'IMG_EXTENSIONS',
           'FLOAT16_MAX_CLASSES']

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                  '.tiff', '.webp')
#: float16 represents every integer up to 2048 exactly
FLOAT16_MAX_CLASSES = 2048


def find_images(data_root: str) -> List[str]:
    """Image files under ``data_root`` (relative paths, sorted)."""
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'Data root not found: "{data_root}"')
    found = []
    for root, _, files in os.walk(data_root, followlinks=True):
        for name in files:
            if name.lower().endswith(IMG_EXTENSIONS):
                found.append(osp.relpath(osp.join(root, name), data_root))
    if not found:
        raise FileNotFoundError(
            f'No images ({", ".join(IMG_EXTENSIONS)}) under "{data_root}".')
    return sorted(found)


def _map_path(out_dir: str, rel: str) -> str:
    from stl_mm.datasets.transforms.token_label_map import MAP_SUFFIX
    return osp.join(out_dir, osp.splitext(rel)[0] + MAP_SUFFIX)


def _read(path: str, img_size: int) -> torch.Tensor:
    import mmcv
    img = mmcv.imread(path)
    if img is None:
        raise ValueError(f'Cannot read the image {path} (corrupt or not an '
                         'image).')
    img = mmcv.imresize(img, (img_size, img_size), interpolation='bicubic',
                        backend='pillow')
    return torch.from_numpy(img).permute(2, 0, 1).contiguous()


@torch.no_grad()
def token_label_maps(model: torch.nn.Module, images: List[torch.Tensor],
                     topk: int) -> torch.Tensor:
    """``(B, 2, k, H, W)`` maps of uint8 CHW (BGR) images of one size."""
    from .inference import token_grid, token_logits_of
    data = model.data_preprocessor(dict(inputs=images), False)
    inputs = data['inputs']
    outputs = model.head(model.extract_feat(inputs))
    logits = token_logits_of(outputs)
    if logits is None:
        raise TypeError('The teacher must be a token model: its head must '
                        'return (class logits, token logits (B, N, K)), e.g. '
                        'stl_mm.TokenLabelHead.')
    B, N, K = logits.shape
    h, w = token_grid(N, inputs.shape[-2], inputs.shape[-1])
    k = min(topk, K)
    values, index = logits.float().topk(k, dim=-1)  # (B, N, k)
    maps = torch.stack([values, index.float()], dim=1)  # (B, 2, N, k)
    maps = maps.reshape(B, 2, h, w, k).permute(0, 1, 4, 2, 3)
    dtype = torch.float16 if K <= FLOAT16_MAX_CLASSES else torch.float32
    return maps.to(dtype).contiguous()


def dump_token_labels(teacher: str,
                      checkpoint: Optional[str],
                      data_root: str,
                      out_dir: str,
                      topk: int = 5,
                      img_size: int = 224,
                      batch_size: int = 32,
                      device: Optional[str] = None,
                      overwrite: bool = False,
                      prefer_ema: bool = True,
                      progress: bool = True) -> dict:
    """Dump the label maps of every image under ``data_root``.

    Args:
        teacher: a config file or a variant name (``init_model``).
        checkpoint: its weights (ours or an upstream file); None only for
            smoke tests (random weights).
        data_root: folder searched recursively for images.
        out_dir: root of the mirrored map tree.
        topk: scores kept per token (fewer if the model has fewer classes).
        img_size: side of the square the whole image is resized to.
        batch_size: images per forward pass.
        device: default ``cuda:<LOCAL_RANK>`` when available, else CPU.
        overwrite: rewrite existing maps (default: skip them, resume).
        prefer_ema: take a checkpoint's EMA weights.
        progress: show a progress bar (rank 0).

    Returns:
        dict with ``total`` (images found), ``written``, ``skipped`` (this
        rank), ``topk``, ``grid`` and ``num_classes`` (None when nothing was
        written).
    """
    from mmengine.dist import barrier, get_dist_info
    from mmengine.utils import ProgressBar

    from .inference import init_model
    if topk < 1:
        raise ValueError(f'--topk must be at least 1, got {topk}')
    if img_size < 1 or batch_size < 1:
        raise ValueError('--img-size and --batch-size must be positive')
    files = find_images(data_root)
    rank, world_size = get_dist_info()
    mine = files[rank::world_size]
    todo = [f for f in mine
            if overwrite or not osp.isfile(_map_path(out_dir, f))]
    if device is None:
        device = (f'cuda:{os.environ.get("LOCAL_RANK", 0)}'
                  if torch.cuda.is_available() else 'cpu')
    model = init_model(teacher, checkpoint, device=device,
                       prefer_ema=prefer_ema)
    bar = ProgressBar(len(todo)) if progress and rank == 0 and todo \
        else None
    summary = dict(total=len(files), written=0,
                   skipped=len(mine) - len(todo), topk=None, grid=None,
                   num_classes=None)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        images = [_read(osp.join(data_root, f), img_size) for f in chunk]
        maps = token_label_maps(model, images, topk).cpu()
        for rel, value in zip(chunk, maps):
            path = _map_path(out_dir, rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            tmp = f'{path}.tmp{rank}'
            torch.save(value.clone(), tmp)
            os.replace(tmp, path)
        summary.update(written=summary['written'] + len(chunk),
                       topk=int(maps.shape[2]),
                       grid=tuple(int(v) for v in maps.shape[-2:]),
                       num_classes=int(getattr(model.head, 'num_classes', 0))
                       or None)
        if bar is not None:
            for _ in chunk:
                bar.update()
    if world_size > 1:
        barrier()
    return summary
