"""Building blocks of FAN (Fully Attentional Networks).

Module and parameter names follow the public upstream definitions so that
upstream checkpoints load without renaming (see ``fan.py`` for the key
layout). Unlike upstream, no module stores the token grid size: every block
that needs it receives ``(H, W)`` as arguments, which keeps the modules
stateless across calls, thread safe and capturable by ``torch.compile``.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath

from stl_mm.utils.amp import cpu_has_native_bf16

__all__ = [
    'LayerNorm2d', 'ConvNeXtBlock', 'ConvNeXtStage', 'ConvNeXtStem',
    'HybridEmbed', 'ConvPatchEmbed', 'FourierPositionalEncoding',
    'TokenMixing', 'DWConv', 'ConvFFN', 'ChannelProcessing', 'FANBlock',
    'ClassAttention', 'ClassAttentionBlock', 'ClsMlp', 'init_fan_weights',
    'grid_tokens_to_map', 'OverlapPatchEmbed', 'SqueezeExcite', 'SEConvFFN'
]

LN_EPS = 1e-6


def _drop_path(rate: float) -> nn.Module:
    return DropPath(rate) if rate > 0. else nn.Identity()


def _is_identity(drop: nn.Module) -> bool:
    """Whether a DropPath/Dropout module passes its input through as is."""
    if isinstance(drop, nn.Identity) or not drop.training:
        return True
    rate = getattr(drop, 'drop_prob', getattr(drop, 'p', None))
    return rate == 0.


def _add_scaled(x: torch.Tensor, scale: torch.Tensor, y: torch.Tensor,
                drop: nn.Module) -> torch.Tensor:
    """``x + drop(scale * y)``, as one fused ``addcmul`` whenever ``drop``
    is the identity (always at inference)."""
    if _is_identity(drop):
        return torch.addcmul(x, scale, y)
    return x + drop(scale * y)


#: asked once (a constant to torch.compile): whether oneDNN runs bf16
#: convolutions natively on this CPU
_NATIVE_LOW_PRECISION_CONV = cpu_has_native_bf16()


def _cpu_autocast(x: torch.Tensor) -> bool:
    """Whether ``x``'s ops run under CPU autocast (bf16 or fp16). The float32
    paths of the layers below never depend on it."""
    return x.device.type == 'cpu' and torch.is_autocast_enabled('cpu')


def _depthwise_fp32_on_cpu(x: torch.Tensor) -> bool:
    """Depthwise convolutions of ``x`` should leave CPU autocast: without
    native bf16 (AVX512-BF16/AMX) PyTorch runs low-precision grouped
    convolutions through its reference im2col kernel, one call per channel
    group (measured: 57 % of a bf16 FAN-S forward on an AVX2 CPU); they are
    memory-bound, float32 costs them little."""
    return _cpu_autocast(x) and not _NATIVE_LOW_PRECISION_CONV


def _gelu_temp(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU of ``x``, a temporary that only the caller holds.

    When autograd does not need ``x`` (inference, frozen layers) the result
    overwrites it. The maps this is used on are the largest tensors of the
    model (stem stage 1: 16 x 512 x 56 x 56 floats = 103 MB at batch 16);
    on CPU a new buffer of that size comes straight from the OS (glibc serves
    requests above 32 MB with mmap) and every page of it faults on first
    write, which cost more than the GELU itself.
    """
    if x.requires_grad:
        return F.gelu(x)
    return torch.ops.aten.gelu_(x)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of an ``(N, C, H, W)`` tensor.

    ``unbiased=True`` normalises with the Bessel-corrected variance
    (divisor ``C - 1``). The upstream ConvNeXt stem does that, implicitly,
    in every norm after its first one: its channels-first LayerNorm takes a
    ``var_mean`` (unbiased) code path whenever the input is not
    NCHW-contiguous, and from the first norm's permuted output onwards
    PyTorch propagates the channels-last layout through the convolutions.
    The released weights were trained that way, so the hybrid stem fixes the
    variant per layer instead of depending on memory formats.
    """

    def __init__(self, num_channels: int, eps: float = LN_EPS,
                 unbiased: bool = False):
        super().__init__(num_channels, eps=eps)
        self.unbiased = unbiased

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, eps = self.weight, self.eps
        if self.unbiased:
            # (x - m) / sqrt(v * C / (C - 1) + eps)
            #   = r * (x - m) / sqrt(v + eps * r**2),  r = sqrt((C - 1) / C)
            ratio = (self.normalized_shape[0] - 1) / self.normalized_shape[0]
            weight = weight * math.sqrt(ratio)
            eps = eps * ratio
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, weight, self.bias, eps)
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', unbiased={self.unbiased}'


# --------------------------------------------------------------------------
# Hybrid stem: the first two stages of a ConvNeXt
# --------------------------------------------------------------------------
class ConvMlp(nn.Module):
    """Pointwise (1x1 conv) MLP with GELU, as used inside ConvNeXt blocks.

    The 1x1 convolutions stay convolutions: on CPU they run through oneDNN,
    which on channels-last maps is faster than ``F.linear`` on NHWC tensors
    (measured, see docs/benchmark.md).
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, x: torch.Tensor,
                scale: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``fc2(gelu(fc1(x)))``, times ``scale`` (per output channel) if
        given. The scale is folded into ``fc2``'s weight and bias, which
        saves a full pass (and a buffer) over the output map."""
        weight, bias = self.fc2.weight, self.fc2.bias
        if scale is not None:
            weight = weight * scale.reshape(-1, 1, 1, 1)
            bias = bias * scale
        if _cpu_autocast(x):
            # Under CPU autocast the pointwise layers run as matrix products
            # of the NHWC rows (timm's ConvNeXt does the same): low-precision
            # 1x1 convolutions take PyTorch's reference conv kernel on CPUs
            # without native bf16 and oneDNN's matmul is at least as fast
            # with it. (B, C, H, W) channels-last -> (B, H, W, C) is a view.
            rows = x.permute(0, 2, 3, 1)
            rows = _gelu_temp(F.linear(rows, self.fc1.weight.flatten(1),
                                       self.fc1.bias))
            return F.linear(rows, weight.flatten(1), bias).permute(0, 3, 1, 2)
        x = _gelu_temp(self.fc1(x))
        return F.conv2d(x, weight, bias)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv, channels-first LN, pointwise MLP, layer scale."""

    def __init__(self, channels: int, drop_path: float = 0.,
                 layer_scale_init: float = 1e-6, mlp_ratio: int = 4):
        super().__init__()
        self.conv_dw = nn.Conv2d(channels, channels, kernel_size=7, padding=3,
                                 groups=channels)
        self.norm = LayerNorm2d(channels, unbiased=True)
        self.mlp = ConvMlp(channels, mlp_ratio * channels)
        self.gamma = nn.Parameter(layer_scale_init * torch.ones(channels))
        self.drop_path = _drop_path(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _depthwise_fp32_on_cpu(x):
            with torch.autocast('cpu', enabled=False):
                y = self.conv_dw(x.float())
        else:
            y = self.conv_dw(x)
        y = self.mlp(self.norm(y), scale=self.gamma)
        return x + self.drop_path(y)


class ConvNeXtStage(nn.Module):
    """Optional LN + 2x2/2 conv downsampling, then ``depth`` blocks."""

    def __init__(self, in_channels: int, out_channels: int, depth: int,
                 downsample: bool):
        super().__init__()
        if downsample:
            self.downsample = nn.Sequential(
                LayerNorm2d(in_channels, unbiased=True),
                nn.Conv2d(in_channels, out_channels, kernel_size=2, stride=2))
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(
            *[ConvNeXtBlock(out_channels) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class ConvNeXtStem(nn.Module):
    """Truncated ConvNeXt: 4x4/4 patchify stem and two stages (128, 256).

    The stem norm is a plain LayerNorm, all later norms use the unbiased
    variance (see :class:`LayerNorm2d`).

    ``forward`` returns the output of every stage (strides 4 and 8).
    """

    def __init__(self, depths: Sequence[int] = (3, 3),
                 channels: Sequence[int] = (128, 256), in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], kernel_size=4, stride=4),
            LayerNorm2d(channels[0]))
        stages = []
        prev = channels[0]
        for i, (depth, ch) in enumerate(zip(depths, channels)):
            stages.append(ConvNeXtStage(prev, ch, depth, downsample=i > 0))
            prev = ch
        self.stages = nn.Sequential(*stages)
        self.out_channels = list(channels)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        # Channels-last from the start: every norm works on NHWC anyway (a
        # free permute of a channels-last map) and the convolutions keep the
        # layout; an NCHW input would make the first norm copy its 4x larger
        # output instead.
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


class HybridEmbed(nn.Module):
    """ConvNeXt stem (stride 8) followed by a 2x2/2 conv to the token width."""

    def __init__(self, embed_dims: int, depths: Sequence[int] = (3, 3),
                 in_channels: int = 3):
        super().__init__()
        self.backbone = ConvNeXtStem(depths, in_channels=in_channels)
        self.proj = nn.Conv2d(self.backbone.out_channels[-1], embed_dims,
                              kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor):
        """Returns tokens ``(B, N, C)``, grid ``(H, W)`` and stage outputs."""
        feats = self.backbone(x)
        x = self.proj(feats[-1])
        hw = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), hw, feats


class ConvPatchEmbed(nn.Module):
    """Four 3x3 stride-2 conv+BN layers (3 -> D/8 -> D/4 -> D/2 -> D)."""

    def __init__(self, embed_dims: int, in_channels: int = 3):
        super().__init__()
        widths = [in_channels, embed_dims // 8, embed_dims // 4,
                  embed_dims // 2, embed_dims]
        layers: List[nn.Module] = []
        for i in range(4):
            if i:
                layers.append(nn.GELU())
            layers.append(nn.Sequential(
                nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, stride=2,
                          padding=1, bias=False),
                nn.BatchNorm2d(widths[i + 1])))
        self.proj = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor):
        """Returns tokens ``(B, N, C)``, grid ``(H, W)`` and no stage maps."""
        x = self.proj(x)
        hw = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), hw, []


class FourierPositionalEncoding(nn.Module):
    """Sine/cosine features of the normalised token position, projected.

    For a ``H x W`` grid, rows and columns are numbered from 1, divided by
    the grid side and scaled to ``(0, 2*pi]``; each coordinate is expanded
    into ``num_feats`` interleaved sin/cos features (even feature ``i`` a
    sine, odd a cosine, of ``position / temperature ** e_i``) and a 1x1
    conv maps the ``2 * num_feats`` features (rows first) to
    ``embed_dims``. Computed afresh for every grid, so any input size works
    without interpolation.

    Args:
        freqs (str): the exponents ``e_i``. ``'paired'``:
            ``2 * floor(i / 2) / num_feats`` (sine and cosine share a
            frequency; the upstream classification models). ``'linear'``:
            ``i / num_feats`` (the upstream segmentation and detection
            backbones, whose code uses true division there).
    """

    def __init__(self, embed_dims: int, num_feats: int = 32,
                 temperature: float = 10000., eps: float = 1e-6,
                 freqs: str = 'paired'):
        super().__init__()
        if freqs not in ('paired', 'linear'):
            raise ValueError(f"freqs must be 'paired' or 'linear', got "
                             f'{freqs!r}')
        self.token_projection = nn.Conv2d(2 * num_feats, embed_dims, 1)
        self.num_feats = num_feats
        self.temperature = temperature
        self.eps = eps
        self.freqs = freqs

    def _features(self, n: int, device) -> torch.Tensor:
        """(n, num_feats) sin/cos features of positions 1..n."""
        pos = torch.arange(1, n + 1, dtype=torch.float32, device=device)
        pos = pos / (n + self.eps) * (2 * math.pi)
        idx = torch.arange(self.num_feats, dtype=torch.float32, device=device)
        if self.freqs == 'paired':
            idx = torch.div(idx, 2, rounding_mode='floor')
        else:
            idx = idx / 2
        freq = self.temperature ** (2 * idx / self.num_feats)
        phase = pos[:, None] / freq
        return torch.stack((phase[:, 0::2].sin(), phase[:, 1::2].cos()),
                           dim=2).flatten(1)

    def forward(self, H: int, W: int) -> torch.Tensor:
        """Returns the encoding as ``(1, H * W, embed_dims)`` tokens."""
        device = self.token_projection.weight.device
        fy = self._features(H, device)[:, None, :].expand(H, W, -1)
        fx = self._features(W, device)[None, :, :].expand(H, W, -1)
        feats = torch.cat((fy, fx), dim=2).permute(2, 0, 1).unsqueeze(0)
        pos = self.token_projection(feats)  # (1, C, H, W)
        return pos.flatten(2).transpose(1, 2)

    def extra_repr(self) -> str:
        return f'freqs={self.freqs!r}'


# --------------------------------------------------------------------------
# FAN block
# --------------------------------------------------------------------------
class TokenMixing(nn.Module):
    """Multi-head self-attention with separate ``q`` and ``kv`` projections.

    ``fused_attn=True`` runs ``F.scaled_dot_product_attention``; ``False``
    spells out ``softmax(q * scale @ k^T) @ v`` (the upstream arithmetic).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0.,
                 fused_attn: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(
                f'embed_dims {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.fused_attn = fused_attn
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        h, c = self.num_heads, self.head_dim
        q = self.q(x).reshape(B, N, h, c).transpose(1, 2)
        k, v = self.kv(x).reshape(B, N, 2, h, c).permute(2, 0, 3, 1, 4)
        drop = self.attn_drop if self.training else 0.
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            x = F.dropout(attn, drop) @ v
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class DWConv(nn.Module):
    """Depthwise 3x3 conv -> GELU -> BatchNorm -> depthwise 3x3 conv on the
    token grid."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=pad,
                               groups=channels)
        self.act = nn.GELU()
        self.bn = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=pad,
                               groups=channels)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        # (B, N, C) tokens viewed as a channels-last (B, C, H, W) map and
        # back: no copies, the convolutions keep the layout.
        x = x.transpose(1, 2).reshape(B, C, H, W)
        if _depthwise_fp32_on_cpu(x):
            with torch.autocast('cpu', enabled=False):
                x = self._convs(x.float())
        else:
            x = self._convs(x)
        return x.reshape(B, C, N).transpose(1, 2)

    def _convs(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.bn(_gelu_temp(self.conv1(x))))


class ConvFFN(nn.Module):
    """``fc1 -> (+ gamma * DWConv) -> fc2``, the value branch of channel
    processing. There is deliberately no activation after ``fc1``: the
    upstream module never applies the one it defines, and checkpoints were
    trained that way.

    ``residual=False`` drops the ``fc1`` shortcut: ``fc1 -> gamma * DWConv
    -> fc2``, the value MLP of upstream's FAN-Swin blocks."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.,
                 residual: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.gamma = nn.Parameter(torch.ones(hidden))
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)
        self.residual = residual

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = self.fc1(x)
        if self.residual:
            x = _add_scaled(x, self.gamma, self.dwconv(x, H, W), self.drop)
        else:
            x = self.drop(self.gamma * self.dwconv(x, H, W))
        return self.drop(self.fc2(x))


class ChannelProcessing(nn.Module):
    """Attentional channel re-weighting of ``LayerNorm(ConvFFN(x))``.

    Per head, the channel attention is ``sigmoid(softmax_N(q)^T @
    mean_c(softmax_N(k))) * temperature`` with ``q = Linear(x)`` and ``k = x``
    (no projection); the output scales every token's value channels by it.
    ``mlp_residual`` is passed to the value MLP (:class:`ConvFFN`).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True,
                 mlp_hidden: int = None, attn_drop: float = 0.,
                 drop: float = 0., mlp_residual: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(
                f'embed_dims {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.mlp_v = ConvFFN(dim, mlp_hidden or 4 * dim, drop=drop,
                             residual=mlp_residual)
        self.norm_v = nn.LayerNorm(dim, eps=1e-5)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        h = self.num_heads
        # Both softmaxes run over the tokens, separately for every channel,
        # so they need no split into heads: computed on the contiguous
        # (B, N, C) tensors (no transposed copies).
        q = self.q(x).softmax(dim=1).reshape(B, N, h, C // h)
        k = x.softmax(dim=1).reshape(B, N, h, C // h).mean(dim=-1)  # B N h
        # per head: softmax(q)^T @ mean_c(softmax(k)), a sum over tokens
        attn = (q * k.unsqueeze(-1)).sum(dim=1)  # B h c
        attn = torch.sigmoid(attn) * self.temperature.reshape(h, 1)
        attn = self.attn_drop(attn)
        v = self.norm_v(self.mlp_v(x, H, W))  # B N C
        return v * attn.reshape(B, 1, C)


class FANBlock(nn.Module):
    """Pre-norm token mixing and channel processing with layer scales.

    ``se_mlp=True``: an SE-gated conv MLP (:class:`SEConvFFN`) replaces
    channel processing, upstream's ``FANBlock_SE``
    (``fan_small_12_p16_224_se_attn``; upstream calls it without the token
    grid and crashes, NVlabs/FAN#13 — here it receives ``(H, W)`` like every
    block).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, drop: float = 0.,
                 attn_drop: float = 0., drop_path: float = 0.,
                 eta: float = 1., fused_attn: bool = True,
                 se_mlp: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = TokenMixing(dim, num_heads, qkv_bias=qkv_bias,
                                attn_drop=attn_drop, proj_drop=drop,
                                fused_attn=fused_attn)
        self.drop_path = _drop_path(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        if se_mlp:
            self.mlp = SEConvFFN(dim, int(dim * mlp_ratio), drop=drop)
        else:
            self.mlp = ChannelProcessing(dim, num_heads, qkv_bias=qkv_bias,
                                         mlp_hidden=int(dim * mlp_ratio),
                                         attn_drop=attn_drop, drop=drop)
        self.gamma1 = nn.Parameter(eta * torch.ones(dim))
        self.gamma2 = nn.Parameter(eta * torch.ones(dim))
        #: optional :class:`OverlapPatchEmbed` after this block (two-width
        #: archs); the backbone applies it, since it changes the grid
        self.downsample: Optional[nn.Module] = None

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = _add_scaled(x, self.gamma1, self.attn(self.norm1(x)),
                        self.drop_path)
        x = _add_scaled(x, self.gamma2, self.mlp(self.norm2(x), H, W),
                        self.drop_path)
        return x


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation gate of a token sequence: ``sigmoid(expand(
    relu(reduce(mean_N(x)))))`` per channel, ``reduce`` to ``ratio * C``.
    The 1x1 convs of the upstream module are kept (their key names)."""

    def __init__(self, channels: int, ratio: float = 0.25):
        super().__init__()
        reduced = max(1, int(channels * ratio + 0.5))
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` tokens -> the same, gated channel-wise."""
        s = x.mean(dim=1)  # global average pool over the grid, (B, C)
        s = self.act1(F.linear(s, self.conv_reduce.weight.flatten(1),
                               self.conv_reduce.bias))
        s = F.linear(s, self.conv_expand.weight.flatten(1),
                     self.conv_expand.bias)
        return x * torch.sigmoid(s).unsqueeze(1)


class SEConvFFN(ConvFFN):
    """:class:`ConvFFN` followed by a :class:`SqueezeExcite` gate (``se``):
    the MLP of upstream's ``FANBlock_SE``."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.):
        super().__init__(dim, hidden, drop=drop)
        self.se = SqueezeExcite(dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        return self.se(super().forward(x, H, W))


class OverlapPatchEmbed(nn.Module):
    """Overlapping 3x3 stride-2 conv on the token grid, then LayerNorm
    (eps 1e-5): ``(B, H*W, C_in)`` -> ``(B, ceil(H/2)*ceil(W/2), C_out)``.
    Widens a FAN between two groups of blocks (``fan_Xlarge_16_p4_hybrid``).
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int = 3, stride: int = 2):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size,
                              stride=stride, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]):
        """Returns the new tokens and their grid ``(H', W')``."""
        x = self.proj(grid_tokens_to_map(x, hw))
        new_hw = (x.shape[2], x.shape[3])
        return self.norm(x.flatten(2).transpose(1, 2)), new_hw


# --------------------------------------------------------------------------
# Class attention (CaiT style)
# --------------------------------------------------------------------------
class ClassAttention(nn.Module):
    """Attention of the class token (index 0) over all tokens."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0., proj_drop: float = 0.,
                 fused_attn: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.fused_attn = fused_attn
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns the updated class token ``(B, 1, C)``."""
        B, N, C = x.shape
        h, c = self.num_heads, self.head_dim
        q = self.q(x[:, :1]).reshape(B, 1, h, c).transpose(1, 2)
        k = self.k(x).reshape(B, N, h, c).transpose(1, 2)
        v = self.v(x).reshape(B, N, h, c).transpose(1, 2)
        drop = self.attn_drop if self.training else 0.
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            x = F.dropout(attn, drop) @ v
        x = x.transpose(1, 2).reshape(B, 1, C)
        return self.proj_drop(self.proj(x))


class ClsMlp(nn.Module):
    """Plain two-layer MLP with GELU (the class-attention block's MLP)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class ClassAttentionBlock(nn.Module):
    """CaiT class-attention block with ``tokens_norm`` semantics.

    Only the class token attends and gets the MLP, but the patch tokens are
    updated too: ``x + gamma1 * norm1(x)`` in the first residual, then
    normalised by ``norm2`` (``tokens_norm=True``) and, through the second
    residual, added to themselves. This reproduces the upstream numbers.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, drop: float = 0.,
                 attn_drop: float = 0., drop_path: float = 0.,
                 eta: float = 1., tokens_norm: bool = True,
                 fused_attn: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = ClassAttention(dim, num_heads, qkv_bias=qkv_bias,
                                   attn_drop=attn_drop, proj_drop=drop,
                                   fused_attn=fused_attn)
        self.drop_path = _drop_path(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = ClsMlp(dim, int(dim * mlp_ratio), drop=drop)
        self.gamma1 = nn.Parameter(eta * torch.ones(dim))
        self.gamma2 = nn.Parameter(eta * torch.ones(dim))
        self.tokens_norm = tokens_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.norm1(x)
        mixed = torch.cat([self.attn(u), u[:, 1:]], dim=1)
        x = x + self.drop_path(self.gamma1 * mixed)
        if self.tokens_norm:
            x = self.norm2(x)
        else:
            x = torch.cat([self.norm2(x[:, :1]), x[:, 1:]], dim=1)
        cls = self.gamma2 * self.mlp(x[:, :1])
        return x + self.drop_path(torch.cat([cls, x[:, 1:]], dim=1))


def init_fan_weights(module: nn.Module) -> None:
    """Upstream-style default initialisation of a FAN module tree.

    Linear: truncated normal (std 0.02), zero bias. LayerNorm: 1 / 0.
    ConvNeXt convs: truncated normal (std 0.02), zero bias. Depthwise convs
    of the value MLP: normal with std sqrt(2 / fan_out), zero bias. Other
    convs and BatchNorm keep PyTorch's defaults (as upstream).
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, ConvNeXtStem):
            for conv in m.modules():
                if isinstance(conv, nn.Conv2d):
                    nn.init.trunc_normal_(conv.weight, std=.02)
                    nn.init.zeros_(conv.bias)
        elif isinstance(m, SqueezeExcite):
            for conv in (m.conv_reduce, m.conv_expand):
                nn.init.normal_(conv.weight, 0.,
                                math.sqrt(2. / conv.out_channels))
                nn.init.zeros_(conv.bias)
        elif isinstance(m, OverlapPatchEmbed):
            k = m.proj.kernel_size
            fan_out = k[0] * k[1] * m.proj.out_channels
            nn.init.normal_(m.proj.weight, 0., math.sqrt(2. / fan_out))
            nn.init.zeros_(m.proj.bias)
        elif isinstance(m, DWConv):
            for conv in (m.conv1, m.conv2):
                k = conv.kernel_size
                fan_out = k[0] * k[1] * conv.out_channels // conv.groups
                nn.init.normal_(conv.weight, 0., math.sqrt(2. / fan_out))
                nn.init.zeros_(conv.bias)


def grid_tokens_to_map(x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """``(B, H*W, C)`` row-major tokens -> contiguous ``(B, C, H, W)``."""
    B, _, C = x.shape
    return x.transpose(1, 2).reshape(B, C, hw[0], hw[1]).contiguous()
