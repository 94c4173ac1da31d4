"""FAN-Swin: Swin Transformer stages whose MLPs are FAN channel processing.

The FAN paper's Swin variant (``fan_swin_{tiny,small,base,large}_patch4_
window7_224`` in the upstream model file): shifted-window self-attention
for token mixing as in Swin, and in the first three stages the attentional
channel processing of FAN (:class:`ChannelProcessing`) in place of the MLP;
the last stage keeps a plain GELU MLP.

Parameter and buffer names equal the upstream checkpoint keys (without
``head.*``), the shifted-window masks ``layers.i.blocks.j.attn_mask`` of the
nominal input size (``img_size``, 224) included: a block uses its stored
mask when the input has that size, as upstream does, and computes the mask
of any other size on the fly.

Differences from the upstream code (none changes a number at 224x224):

- attention runs through ``F.scaled_dot_product_attention`` with the
  relative position bias and the window mask as additive mask;
- any input size works: maps that do not fill whole windows are padded at
  the bottom/right, and padded tokens are masked out as keys; the upstream
  rule "no shift when the map fits in one window" is evaluated on the actual
  map instead of once at construction;
- no module stores the size of the current input: every stage receives
  ``(H, W)``.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from stl_mm.registry import MODELS
from .fan import check_state_matches, load_fan_checkpoint, register_variants
from .fan_layers import (ChannelProcessing, ClsMlp, LayerNorm2d, _drop_path,
                         init_fan_weights)

__all__ = ['FANSwin', 'WindowAttention', 'SwinFANBlock', 'PatchMerging',
           'shifted_window_mask']

#: additive mask value of upstream Swin for tokens that must not interact
MASK_VALUE = -100.


def _arch(embed_dims, depths, num_heads):
    return dict(embed_dims=embed_dims, depths=list(depths),
                num_heads=list(num_heads), window_size=7, patch_size=4,
                mlp_types=['fan', 'fan', 'fan', 'mlp'])


_ARCH_KEYS = {'embed_dims', 'depths', 'num_heads', 'window_size',
              'patch_size', 'mlp_types'}


# --------------------------------------------------------------------------
# windows
# --------------------------------------------------------------------------
def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B, nW, ws*ws, C)``, windows in row-major order
    (``H`` and ``W`` multiples of ``ws``)."""
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, (H // ws) * (W // ws), ws * ws, C)


def window_merge(x: torch.Tensor, ws: int, H: int, W: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B, nW, ws*ws, C)`` ->
    ``(B, H, W, C)``."""
    B, _, _, C = x.shape
    x = x.view(B, H // ws, W // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, H, W, C)


def shifted_window_mask(H: int, W: int, ws: int, shift: int,
                        device=None) -> Optional[torch.Tensor]:
    """Additive attention mask ``(nW, ws*ws, ws*ws)`` for a ``H x W`` map in
    windows of ``ws`` cyclically shifted by ``shift``, or ``None`` when
    every token may attend to every token of its window.

    The map is padded to multiples of ``ws`` at the bottom/right. Tokens of
    different regions of the rolled map (upstream Swin's 3x3 split) and
    padded tokens get :data:`MASK_VALUE` against each other; for an
    unpadded map this is exactly the mask upstream stores as ``attn_mask``.
    """
    Hp, Wp = -(-H // ws) * ws, -(-W // ws) * ws
    if not shift and Hp == H and Wp == W:
        return None
    ids = torch.zeros(Hp, Wp, device=device)
    if shift:
        cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
        region = 0
        for rows in cuts:
            for cols in cuts:
                ids[rows, cols] = region
                region += 1
    if Hp != H or Wp != W:
        pad = torch.ones(Hp, Wp, dtype=torch.bool, device=device)
        pad[:H, :W] = False
        if shift:  # padding in the frame of the rolled map
            pad = torch.roll(pad, shifts=(-shift, -shift), dims=(0, 1))
        ids = ids.masked_fill(pad, -1.)
    windows = window_partition(ids.view(1, Hp, Wp, 1), ws)[0, ..., 0]
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, MASK_VALUE)


def relative_position_index(ws: int) -> torch.Tensor:
    """``(ws*ws, ws*ws)`` index into the ``(2*ws-1)**2`` bias table for
    every pair of tokens of a window (row offset major, as upstream)."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws),
                                        indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]) + (ws - 1)
    return rel[0] * (2 * ws - 1) + rel[1]


# --------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------
class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with the learned relative
    position bias of Swin (one table entry per offset and head).

    Input ``(B, nW, N, C)`` windows of ``N = ws*ws`` tokens, optional
    additive mask ``(nW, N, N)``; output of the same shape.
    """

    def __init__(self, dim: int, window_size: int, num_heads: int,
                 qkv_bias: bool = True, attn_drop: float = 0.,
                 proj_drop: float = 0., fused_attn: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads '
                             f'{num_heads}')
        self.window_size = window_size
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.fused_attn = fused_attn
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer('relative_position_index',
                             relative_position_index(window_size))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def position_bias(self) -> torch.Tensor:
        """``(heads, N, N)`` relative position bias of one window."""
        N = self.window_size ** 2
        bias = self.relative_position_bias_table[
            self.relative_position_index.reshape(-1)]
        return bias.reshape(N, N, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, nW, N, C = x.shape
        h, c = self.num_heads, self.head_dim
        # (3, B, nW, h, N, c)
        q, k, v = self.qkv(x).reshape(B, nW, N, 3, h, c).permute(
            3, 0, 1, 4, 2, 5)
        bias = self.position_bias().unsqueeze(0)  # 1 h N N
        if mask is not None:
            bias = bias + mask.unsqueeze(1)  # nW h N N
        bias = bias.to(q.dtype)
        drop = self.attn_drop if self.training else 0.
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                               dropout_p=drop)
        else:
            attn = ((q * self.scale) @ k.transpose(-2, -1) + bias).softmax(-1)
            x = F.dropout(attn, drop) @ v
        x = x.transpose(2, 3).reshape(B, nW, N, C)
        return self.proj_drop(self.proj(x))


class SwinMlp(ClsMlp):
    """Plain ``fc1 -> GELU -> fc2`` MLP (the last FAN-Swin stage). Takes and
    ignores the token grid so that every block calls its MLP alike."""

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        return super().forward(x)


class SwinFANBlock(nn.Module):
    """(Shifted-)window attention and an MLP, both pre-norm residuals.

    ``mlp_type='fan'``: FAN channel processing whose value MLP has no
    residual around its depthwise convs (as upstream's Swin variant);
    ``'mlp'``: a plain MLP. Input and output ``(B, H*W, C)``.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int = 7,
                 shift_size: int = 0, mlp_ratio: float = 4.,
                 mlp_type: str = 'fan', qkv_bias: bool = True,
                 drop: float = 0., attn_drop: float = 0.,
                 drop_path: float = 0., fused_attn: bool = True,
                 input_resolution: Optional[Tuple[int, int]] = None):
        super().__init__()
        if mlp_type not in ('fan', 'mlp'):
            raise ValueError(f"mlp_type must be 'fan' or 'mlp', got "
                             f'{mlp_type!r}')
        if not 0 <= shift_size < window_size:
            raise ValueError('shift_size must be in [0, window_size)')
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads,
                                    qkv_bias=qkv_bias, attn_drop=attn_drop,
                                    proj_drop=drop, fused_attn=fused_attn)
        self.drop_path = _drop_path(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        if mlp_type == 'fan':
            self.mlp = ChannelProcessing(dim, num_heads, qkv_bias=qkv_bias,
                                         mlp_hidden=hidden,
                                         attn_drop=attn_drop, drop=drop,
                                         mlp_residual=False)
        else:
            self.mlp = SwinMlp(dim, hidden, drop=drop)
        # the mask of the nominal map, a checkpoint buffer as upstream's
        self.input_resolution = (tuple(input_resolution)
                                 if input_resolution else None)
        mask = None
        if self.input_resolution and self.shift_for(*self.input_resolution):
            mask = shifted_window_mask(*self.input_resolution, window_size,
                                       shift_size)
        self.register_buffer('attn_mask', mask)
        self._register_load_state_dict_pre_hook(self._adopt_stored_mask)

    def _adopt_stored_mask(self, state_dict, prefix, *args, **kwargs):
        """Load pre-hook: a checkpoint of an upstream model built for
        another (square) input size stores masks of other shapes (or where
        this model has none); take its size as the nominal one, so that the
        stored mask loads and is used for inputs of that size."""
        stored = state_dict.get(prefix + 'attn_mask')
        if stored is None or (self.attn_mask is not None
                              and stored.shape == self.attn_mask.shape):
            return
        ws = self.window_size
        side = round(stored.shape[0] ** 0.5)
        if (stored.dim() != 3 or side * side != stored.shape[0]
                or tuple(stored.shape[1:]) != (ws * ws, ws * ws)):
            return  # not an upstream mask: the load reports the mismatch
        self.input_resolution = (side * ws, side * ws)
        self.register_buffer('attn_mask', torch.empty_like(
            stored, device=self.attn.relative_position_index.device))

    def shift_for(self, H: int, W: int) -> int:
        """The shift used on a ``H x W`` map: none when the map fits in one
        window (upstream decides this once for its fixed input size)."""
        return 0 if min(H, W) <= self.window_size else self.shift_size

    def mask_for(self, H: int, W: int,
                 cache: Dict[int, Optional[torch.Tensor]],
                 device=None) -> Optional[torch.Tensor]:
        """The window mask of a ``H x W`` map: the stored ``attn_mask`` for
        the nominal map, else :func:`shifted_window_mask` (kept in
        ``cache`` by shift, so a stage computes each mask once)."""
        if self.attn_mask is not None and (H, W) == self.input_resolution:
            return self.attn_mask
        shift = self.shift_for(H, W)
        if shift not in cache:
            cache[shift] = shifted_window_mask(H, W, self.window_size, shift,
                                               device=device)
        return cache[shift]

    def forward(self, x: torch.Tensor, H: int, W: int,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``mask``: :meth:`mask_for` of the map."""
        B, L, C = x.shape
        ws, shift = self.window_size, self.shift_for(H, W)
        y = self.norm1(x).view(B, H, W, C)
        pad_h, pad_w = (-H) % ws, (-W) % ws
        if pad_h or pad_w:
            y = F.pad(y, (0, 0, 0, pad_w, 0, pad_h))
        Hp, Wp = H + pad_h, W + pad_w
        if shift:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
        y = self.attn(window_partition(y, ws), mask)
        y = window_merge(y, ws, Hp, Wp)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        if pad_h or pad_w:
            y = y[:, :H, :W]
        x = x + self.drop_path(y.reshape(B, L, C))
        return x + self.drop_path(self.mlp(self.norm2(x), H, W))


class PatchMerging(nn.Module):
    """2x2 neighbourhood concatenation (``4C``), LayerNorm, linear to
    ``2C``. Odd sides are zero-padded. ``(B, H*W, C)`` ->
    ``(B, ceil(H/2)*ceil(W/2), 2C)``."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, H: int,
                W: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
        B, _, C = x.shape
        x = x.view(B, H, W, C)
        if H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        # order of upstream: (even, even), (odd, even), (even, odd), (odd, odd)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
                       x[:, 1::2, 1::2]], dim=-1)
        hw = (x.shape[1], x.shape[2])
        x = self.reduction(self.norm(x.reshape(B, -1, 4 * C)))
        return x, hw


class SwinPatchEmbed(nn.Module):
    """``patch x patch`` conv with stride ``patch`` and LayerNorm; inputs are
    zero-padded to a multiple of ``patch``. Returns ``(B, N, C)`` and the
    grid."""

    def __init__(self, embed_dims: int, patch_size: int = 4,
                 in_channels: int = 3):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=patch_size,
                              stride=patch_size)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x: torch.Tensor):
        p = self.patch_size
        pad_h, pad_w = (-x.shape[2]) % p, (-x.shape[3]) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x)
        hw = (x.shape[2], x.shape[3])
        return self.norm(x.flatten(2).transpose(1, 2)), hw


class SwinStage(nn.Module):
    """``depth`` blocks alternating plain and shifted windows, then an
    optional :class:`PatchMerging` (``downsample``)."""

    def __init__(self, dim: int, depth: int, num_heads: int,
                 window_size: int, mlp_type: str, drop_paths: Sequence[float],
                 downsample: bool, fused_attn: bool = True,
                 with_cp: bool = False,
                 input_resolution: Optional[Tuple[int, int]] = None):
        super().__init__()
        self.window_size = window_size
        self.with_cp = with_cp
        self.blocks = nn.ModuleList([
            SwinFANBlock(dim, num_heads, window_size,
                         shift_size=0 if i % 2 == 0 else window_size // 2,
                         mlp_type=mlp_type, drop_path=drop_paths[i],
                         fused_attn=fused_attn,
                         input_resolution=input_resolution)
            for i in range(depth)
        ])
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]):
        """Returns the stage output ``(B, H*W, C)`` (before downsampling),
        the downsampled tokens and their grid (the same when there is no
        downsampling)."""
        H, W = hw
        masks: Dict[int, Optional[torch.Tensor]] = {}
        for blk in self.blocks:
            mask = blk.mask_for(H, W, masks, device=x.device)
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(blk, x, H, W, mask, use_reentrant=False)
            else:
                x = blk(x, H, W, mask)
        if self.downsample is None:
            return x, x, hw
        y, hw = self.downsample(x, H, W)
        return x, y, hw


# --------------------------------------------------------------------------
# backbone
# --------------------------------------------------------------------------
@MODELS.register_module()
class FANSwin(BaseModule):
    """FAN-Swin backbone (the FAN paper's Swin variant).

    Data flow: 4x4 patch embedding (stride 4) -> four stages of
    (shifted-)window attention blocks with FAN channel processing (plain
    MLP in the last stage), 2x2 patch merging between stages (strides 4, 8,
    16, 32; widths ``C, 2C, 4C, 8C``) -> final LayerNorm ``norm`` on the
    last stage.

    Args:
        arch (str | dict): one of :attr:`arch_zoo` (the four upstream names)
            or a dict with ``embed_dims``, ``depths`` and ``num_heads`` (four
            entries each) and optional ``window_size`` (7), ``patch_size``
            (4) and ``mlp_types`` (``['fan', 'fan', 'fan', 'mlp']``).
        out_indices (Sequence[int]): stages whose outputs are returned, as
            maps ``(B, C_i, H_i, W_i)`` (``C_i = C * 2**i``, stride
            ``4 * 2**i``), each taken before that stage's patch merging.
            Output 3 goes through the final ``norm`` (upstream's). The
            default ``(3,)`` is the classification output: with mmpretrain's
            ``GlobalAveragePooling`` neck and a ``LinearClsHead`` this is
            upstream's classifier. ``-1`` means 3.
        out_norms (bool): add a channels-first LayerNorm ``out_norms.<i>``
            on every requested output 0..2 (dense prediction; new weights).
        drop_path_rate (float): stochastic depth, increasing linearly from 0
            over all blocks to this value (upstream's Swin rule).
        with_cp (bool): activation checkpointing of every block while
            gradients are needed.
        frozen_stages (int): -1 freezes nothing; 0 the patch embedding;
            ``i >= 1`` also stages ``0..i-1`` (with their patch merging).
        norm_eval (bool): keep BatchNorm layers (inside channel processing)
            in eval mode while training.
        fused_attn (bool): ``F.scaled_dot_product_attention`` (default) or
            explicit matmul/softmax.
        img_size (int | tuple): the nominal input size (upstream's
            ``img_size``); the shifted-window masks of its maps are buffers
            (``attn_mask``, upstream checkpoint keys). Other input sizes
            work as well and compute their masks. Loading the file of an
            upstream model built for another square size adopts its masks
            and that size.
        init_cfg: mmengine init config; ``Pretrained`` loads upstream or
            stl_mm checkpoints through
            :func:`stl_mm.models.utils.load_fan_checkpoint`.

    Note:
        All LayerNorms use eps 1e-5 (upstream's ``nn.LayerNorm`` default);
        the value MLP of channel processing has no activation and, unlike in
        the FAN-ViT blocks, no residual around its depthwise convs; the
        shifted-window mask uses -100 (as upstream), padded tokens too.
    """

    arch_zoo: Dict[str, dict] = {
        'fan_swin_tiny_patch4_window7_224': _arch(96, (2, 2, 6, 2),
                                                  (3, 6, 12, 24)),
        'fan_swin_small_patch4_window7_224': _arch(96, (2, 2, 18, 2),
                                                   (3, 6, 12, 24)),
        'fan_swin_base_patch4_window7_224': _arch(128, (2, 2, 18, 2),
                                                  (4, 8, 16, 32)),
        'fan_swin_large_patch4_window7_224': _arch(192, (2, 2, 18, 2),
                                                   (6, 12, 24, 48)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'fan_swin_tiny_patch4_window7_224',
                 out_indices: Sequence[int] = (3, ),
                 out_norms: bool = False,
                 drop_path_rate: float = 0.,
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 fused_attn: bool = True,
                 img_size: Union[int, Sequence[int]] = 224,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_name, cfg = self._parse_arch(arch)
        if isinstance(img_size, int):
            img_size = (img_size, img_size)
        self.arch_settings = cfg
        depths, heads = cfg['depths'], cfg['num_heads']
        C = cfg['embed_dims']
        self.num_stages = len(depths)
        self.channels = [C * 2 ** i for i in range(self.num_stages)]
        self.strides = [cfg['patch_size'] * 2 ** i
                        for i in range(self.num_stages)]
        self.out_indices = self._parse_out_indices(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.patch_embed = SwinPatchEmbed(C, cfg['patch_size'])
        total = sum(depths)
        dpr = [drop_path_rate * i / (total - 1) if total > 1 else
               drop_path_rate for i in range(total)]
        self.layers = nn.ModuleList()
        start = 0
        grid = [-(-s // cfg['patch_size']) for s in img_size]
        for i, depth in enumerate(depths):
            self.layers.append(SwinStage(
                self.channels[i], depth, heads[i], cfg['window_size'],
                cfg['mlp_types'][i], dpr[start:start + depth],
                downsample=i < self.num_stages - 1, fused_attn=fused_attn,
                with_cp=with_cp, input_resolution=tuple(grid)))
            start += depth
            grid = [-(-g // 2) for g in grid]
        self.norm = nn.LayerNorm(self.channels[-1])
        if out_norms:
            self.out_norms = nn.ModuleDict({
                str(i): LayerNorm2d(self.channels[i], eps=1e-5)
                for i in self.out_indices if i < self.num_stages - 1
            })
        else:
            self.out_norms = None

        init_fan_weights(self)
        for m in self.modules():
            if isinstance(m, WindowAttention):
                nn.init.trunc_normal_(m.relative_position_bias_table,
                                      std=.02)
        self._freeze_stages()

    # ------------------------------------------------------------------
    @classmethod
    def _parse_arch(cls, arch):
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(
                    f'Unknown FAN-Swin arch {arch!r}; choose one of '
                    f'{sorted(cls.arch_zoo)} or pass a dict.')
            return arch, copy.deepcopy(cls.arch_zoo[arch])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or dict, got {type(arch)}')
        unknown = set(arch) - _ARCH_KEYS
        missing = {'embed_dims', 'depths', 'num_heads'} - set(arch)
        if unknown or missing:
            raise ValueError(
                f'Bad custom FAN-Swin arch {arch}: missing {sorted(missing)},'
                f' unknown {sorted(unknown)}; allowed keys are '
                f'{sorted(_ARCH_KEYS)}.')
        cfg = _arch(arch['embed_dims'], arch['depths'], arch['num_heads'])
        cfg.update(copy.deepcopy(arch))
        n = len(cfg['depths'])
        if len(cfg['num_heads']) != n or len(cfg['mlp_types']) != n:
            raise ValueError('depths, num_heads and mlp_types need one entry '
                             'per stage')
        return 'custom', cfg

    def _parse_out_indices(self, out_indices):
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        n = self.num_stages
        result = sorted({i + n if i < 0 else i for i in out_indices})
        if not result or not all(0 <= i < n for i in result):
            raise ValueError(f'out_indices must be a non-empty subset of '
                             f'{tuple(range(n))}, got {out_indices}')
        return tuple(result)

    @property
    def out_channels(self) -> List[int]:
        """Channels of the returned maps."""
        return [self.channels[i] for i in self.out_indices]

    @property
    def out_strides(self) -> List[int]:
        """Strides of the returned maps."""
        return [self.strides[i] for i in self.out_indices]

    # ------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> tuple:
        """``(B, 3, H, W)`` images -> tuple of ``(B, C_i, H_i, W_i)`` maps
        for ``out_indices`` (``H_i = ceil(H / stride_i)``)."""
        if x.dim() != 4:
            raise ValueError(f'FAN-Swin expects (B, C, H, W) images, got '
                             f'shape {tuple(x.shape)}')
        x, hw = self.patch_embed(x)
        outs = []
        last = max(self.out_indices)
        for i, stage in enumerate(self.layers):
            out, x, next_hw = stage(x, hw)
            if i in self.out_indices:
                if i == self.num_stages - 1:
                    out = self.norm(out)
                feat = out.transpose(1, 2).reshape(
                    out.shape[0], -1, hw[0], hw[1]).contiguous()
                if self.out_norms is not None and str(i) in self.out_norms:
                    feat = self.out_norms[str(i)](feat)
                outs.append(feat)
            if i == last:
                break
            hw = next_hw
        return tuple(outs)

    # ------------------------------------------------------------------
    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return [self.patch_embed, *self.layers[:self.frozen_stages]]

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self._frozen_modules():
            m.eval()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer id for layer-wise learning-rate decay: patch embedding 0,
        block ``k`` (counted over all stages) ``k + 1``, a stage's patch
        merging with its last block, everything else the last layer.
        Returns ``(layer_id, sum(depths) + 2)``."""
        depths = self.arch_settings['depths']
        num_layers = sum(depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        parts = param_name[len(prefix):].split('.')
        if parts[0] == 'patch_embed':
            return 0, num_layers
        if parts[0] == 'layers':
            stage = int(parts[1])
            before = sum(depths[:stage])
            if parts[2] == 'blocks':
                return before + int(parts[3]) + 1, num_layers
            return before + depths[stage], num_layers
        return num_layers - 1, num_layers

    # ------------------------------------------------------------------
    def init_weights(self):
        """``Pretrained`` init_cfg: load through the FAN checkpoint reader
        (upstream ``.pth.tar`` or stl_mm files); otherwise mmengine."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.load_pretrained(cfg['checkpoint'],
                                 prefix=cfg.get('prefix', 'backbone.'),
                                 prefer_ema=cfg.get('prefer_ema', True))
            self._is_init = True
            return
        super().init_weights()

    def load_pretrained(self, checkpoint: str, prefix: str = 'backbone.',
                        prefer_ema: bool = True) -> None:
        """Load the backbone part of a FAN-Swin checkpoint (shapes checked;
        ``out_norms.*`` keep their initialisation)."""
        if prefix and not prefix.endswith('.'):
            prefix += '.'
        state = load_fan_checkpoint(checkpoint, prefer_ema=prefer_ema)
        backbone_state = {k[len(prefix):]: v for k, v in state.items()
                          if k.startswith(prefix)}
        if not backbone_state:
            raise ValueError(
                f'Checkpoint "{checkpoint}" has no entries under the prefix '
                f'{prefix!r}; its first keys are {list(state)[:5]}.')
        check_state_matches(self.state_dict(), backbone_state,
                            self.arch_name)
        missing, _ = self.load_state_dict(backbone_state, strict=False)
        print_log(f'Loaded FAN-Swin backbone ({self.arch_name}) weights from '
                  f'{checkpoint}.', logger='current')
        if missing:
            print_log('Backbone parameters initialised from scratch (not in '
                      f'the checkpoint): {missing}', logger='current')


register_variants(FANSwin)
