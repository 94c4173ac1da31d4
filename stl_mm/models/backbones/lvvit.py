"""LV-ViT backbone (Token Labeling, Jiang et al., NeurIPS 2021).

A plain pre-norm ViT with three changes: a 4-convolution patch embedding
(7x7 stride-2 conv + two 3x3 convs, each with BatchNorm and ReLU, then a
stride-8 projection: total stride 16), residual branches divided by a
constant ``skip_lam`` ("re-scaled residuals") and a per-token classifier
next to the class-token classifier (both live in
:class:`stl_mm.TokenLabelHead` here: ``head.fc`` / ``head.aux_fc``).

Parameter names are the upstream checkpoint keys minus ``head.*`` and
``aux_head.*``, so released files load through
:func:`checkpoint_filter_fn` / :func:`stl_mm.apis.init_model` unchanged.
The learned position embedding has the grid of the resolution a model was
built (or a checkpoint was trained) at; other input sizes interpolate it
bicubically on the fly (mmpretrain's ``resize_pos_embed``).

MixToken (CutMix on the token grid) is not module state: the caller passes
a token mask (see :func:`stl_mm.models.utils.label_maps.sample_mix_token`)
to :meth:`LVViT.forward`; the tokens inside the mask are taken from the
batch flipped along its first axis after the patch embedding and put back
in place before the output, as upstream does before its ``aux_head``.
"""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks.drop import DropPath
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmpretrain.models.utils import resize_pos_embed
from torch.nn.modules.batchnorm import _BatchNorm

from stl_mm.registry import MODELS

__all__ = ['LVViT', 'checkpoint_filter_fn', 'LVVIT_ARCHS']

#: upstream ``tlt/models/lvvit.py`` variants (``mlp_ratio`` 3, no qkv bias)
LVVIT_ARCHS: Dict[str, dict] = {
    'lvvit_t': dict(embed_dims=240, depth=12, num_heads=4, stem_channels=64,
                    skip_lam=1.0),
    'lvvit_s': dict(embed_dims=384, depth=16, num_heads=6, stem_channels=64,
                    skip_lam=2.0),
    'lvvit_m': dict(embed_dims=512, depth=20, num_heads=8, stem_channels=64,
                    skip_lam=2.0),
    'lvvit_l': dict(embed_dims=768, depth=24, num_heads=12,
                    stem_channels=128, skip_lam=3.0),
}
_ARCH_KEYS = {'embed_dims', 'depth', 'num_heads', 'stem_channels',
              'skip_lam', 'mlp_ratio'}
POS_EMBED_LOADING = ('keep', 'resize')


def _pair(v) -> Tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(int(x) for x in v)
    if len(v) != 2:
        raise ValueError(f'expected an int or a pair, got {v}')
    return v


class ConvPatchEmbed4(nn.Module):
    """Upstream ``PatchEmbed4_2`` / ``PatchEmbed4_2_128``.

    ``(B, 3, H, W)`` -> ``(B, D, H / p, W / p)``: conv 7x7/2 -> 3x3 -> 3x3
    (BatchNorm + ReLU after each, ``stem_channels`` wide) -> conv with
    kernel = stride = ``p / 2``.
    """

    def __init__(self, in_channels: int, embed_dims: int, stem_channels: int,
                 patch_size: int):
        super().__init__()
        if patch_size % 2:
            raise ValueError(f'patch_size must be even, got {patch_size}')
        c = stem_channels
        self.conv1 = nn.Conv2d(in_channels, c, 7, stride=2, padding=3,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 3, stride=1, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)
        self.proj = nn.Conv2d(c, embed_dims, patch_size // 2,
                              stride=patch_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = F.relu(self.bn2(self.conv2(x)), inplace=True)
        x = F.relu(self.bn3(self.conv3(x)), inplace=True)
        return self.proj(x)


class Attention(nn.Module):
    """Multi-head self-attention with a fused kernel (SDPA).

    ``(B, N, D)`` -> ``(B, N, D)``; ``qkv`` has no bias (upstream default).
    """

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        if dim % num_heads:
            raise ValueError('embed_dims must be divisible by num_heads')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        x = x.transpose(1, 2).reshape(B, N, D)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    """``fc1`` -> GELU -> ``fc2`` on ``(B, N, D)`` tokens."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block with re-scaled residuals:
    ``x + branch(norm(x)) / skip_lam`` for attention and MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float,
                 skip_lam: float, drop: float = 0., attn_drop: float = 0.,
                 drop_path: float = 0.):
        super().__init__()
        self.skip_lam = float(skip_lam)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x))) / self.skip_lam
        return x + self.drop_path(self.mlp(self.norm2(x))) / self.skip_lam


def _trunc_normal_init(module: nn.Module) -> None:
    """Upstream initialisation: truncated normal (std 0.02) linear weights,
    zero biases, unit LayerNorms (convolutions keep PyTorch's default)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _side_layers(D: int, out_channels: int,
                 norm_cfg: Optional[dict] = None) -> List[nn.Sequential]:
    """Upstream's four segmentation side layers (strides x4, x2, x1, x1;
    the last to ``out_channels``), module indices as upstream's."""
    from mmcv.cnn import build_norm_layer
    norm_cfg = norm_cfg or dict(type='BN')

    def unit(conv: nn.Module, channels: int) -> List[nn.Module]:
        return [conv, build_norm_layer(norm_cfg, channels)[1],
                nn.ReLU(inplace=True)]

    def up(factor: int) -> nn.Sequential:
        return nn.Sequential(
            *unit(nn.ConvTranspose2d(D, D, factor, stride=factor,
                                     bias=False), D),
            *unit(nn.Conv2d(D, D, 1, bias=False), D))

    return [up(4), up(2),
            nn.Sequential(*unit(nn.Conv2d(D, D, 1, bias=False), D)),
            nn.Sequential(*unit(nn.Conv2d(D, out_channels, 1, bias=False),
                                out_channels))]


@MODELS.register_module()
class LVViT(BaseModule):
    """LV-ViT backbone.

    Data flow: ``(B, 3, H, W)`` -> 4-conv patch embedding (stride
    ``patch_size``) -> [optional MixToken] -> class token prepended ->
    + position embedding (resized bicubically when the token grid differs
    from its own) -> ``depth`` blocks -> LayerNorm.

    Args:
        arch (str | dict): ``'lvvit_t'``, ``'lvvit_s'``, ``'lvvit_m'``,
            ``'lvvit_l'`` or a dict with ``embed_dims``, ``depth``,
            ``num_heads``, ``stem_channels``, ``skip_lam`` (and optionally
            ``mlp_ratio``, default 3).
        img_size (int | tuple): resolution whose token grid the position
            embedding has (224 gives 14x14; a 448 build, e.g. the released
            ``lvvit_l`` weights, 28x28).
        patch_size (int): total stride of the patch embedding (16).
        in_channels (int): image channels.
        out_type (str): classification output: ``'cls_and_patch'``
            returns ``((cls (B, D), patch (B, N, D)),)`` (for
            :class:`stl_mm.TokenLabelHead`), ``'cls_token'`` returns
            ``(cls,)``; both after the final LayerNorm, patch tokens in
            row-major grid order.
        out_indices (Sequence[int] | None): dense mode: block indices
            (``-1`` = last block) whose patch tokens are returned as maps
            ``(B, D, H / p, W / p)`` (no final norm, as the upstream
            segmentation backbone). ``None``: classification outputs.
        side_layers (dict | None): dense mode with four ``out_indices``:
            upstream's segmentation side layers (TokenLabeling
            ``seg/mmseg/models/backbones/vit.py``, ``use_side_layer=True``)
            turn the four stride-``p`` maps into strides ``p/4, p/2, p, p``
            (4x4 and 2x2 transposed convolutions, 1x1 convolutions, each
            with norm + ReLU), the last with ``out_channels`` channels
            (2048 upstream), e.g. ``dict(out_channels=2048,
            norm_cfg=dict(type='SyncBN'))``. Parameter names
            ``side_layer1..4`` as upstream's, so the released UperNet
            checkpoints load as they are. ``None``: plain stride-``p`` maps
            (e.g. for mmseg's ``MultiLevelNeck``).
        drop_rate / attn_drop_rate: dropout after the projections / on the
            attention weights.
        drop_path_rate (float): stochastic depth, linear from 0 to this.
        pos_embed_loading (str): what loading a checkpoint whose position
            embedding has another grid does: ``'keep'`` (default) adopts
            the checkpoint's grid, so the model reproduces it exactly at its
            resolution (inputs of other sizes interpolate on the fly);
            ``'resize'`` resizes the checkpoint's embedding once to this
            model's grid (fine-tuning at a new resolution).
        interpolate_mode (str): mode of the position-embedding resizing.
        with_cp (bool): activation checkpointing of every block while
            gradients are needed.
        frozen_stages (int): -1 freezes nothing; 0 the patch embedding,
            class token and position embedding; ``i`` also the first ``i``
            blocks (``depth`` also the final norm). Frozen BatchNorms stay in
            eval mode.
        norm_eval (bool): keep the stem's BatchNorms in eval mode.
        init_cfg: mmengine init config (e.g. ``Pretrained``); by default
            the upstream initialisation.
    """

    arch_zoo = LVVIT_ARCHS
    num_extra_tokens = 1
    supports_mix_token = True

    def __init__(self,
                 arch: Union[str, dict] = 'lvvit_s',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 out_type: str = 'cls_and_patch',
                 out_indices: Optional[Sequence[int]] = None,
                 side_layers: Optional[dict] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 pos_embed_loading: str = 'keep',
                 interpolate_mode: str = 'bicubic',
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_name, cfg = self._parse_arch(arch)
        self.arch_settings = cfg
        self.embed_dims = D = cfg['embed_dims']
        self.num_layers = depth = cfg['depth']
        if out_type not in ('cls_token', 'cls_and_patch'):
            raise ValueError("out_type must be 'cls_token' or "
                             f"'cls_and_patch', got {out_type!r}")
        if pos_embed_loading not in POS_EMBED_LOADING:
            raise ValueError(f'pos_embed_loading must be one of '
                             f'{POS_EMBED_LOADING}, got {pos_embed_loading!r}')
        self.out_type = out_type
        self.patch_size = int(patch_size)
        img_size = _pair(img_size)
        if img_size[0] % self.patch_size or img_size[1] % self.patch_size:
            raise ValueError(f'img_size {img_size} is not a multiple of '
                             f'patch_size {self.patch_size}')
        self.out_indices = self._parse_out_indices(out_indices, depth)
        self.pos_embed_loading = pos_embed_loading
        self.interpolate_mode = interpolate_mode
        self.with_cp = with_cp
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        # creation order follows the upstream key order
        self.patch_embed = ConvPatchEmbed4(in_channels, D,
                                           cfg['stem_channels'],
                                           self.patch_size)
        grid = (img_size[0] // self.patch_size,
                img_size[1] // self.patch_size)
        self._pos_hw = grid  # changes only when a checkpoint is adopted
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, grid[0] * grid[1] + 1, D))
        self.pos_drop = nn.Dropout(drop_rate)
        # linear stochastic-depth rule (python floats: meta-device safe)
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList([
            Block(D, cfg['num_heads'], cfg.get('mlp_ratio', 3.),
                  cfg['skip_lam'], drop=drop_rate, attn_drop=attn_drop_rate,
                  drop_path=dpr[i]) for i in range(depth)
        ])
        # dense mode has no final norm (nor its unused parameters, which
        # DDP would trip over), as upstream's segmentation backbone
        self.norm = nn.LayerNorm(D) if self.out_indices is None else None
        self._last_block = (depth - 1 if self.out_indices is None else
                            max(self.out_indices))
        self.use_side_layers = side_layers is not None
        if self.use_side_layers:
            if self.out_indices is None or len(self.out_indices) != 4:
                raise ValueError('side_layers need four out_indices (dense '
                                 f'mode), got {out_indices}')
            for i, layer in enumerate(_side_layers(D, **side_layers), 1):
                self.add_module(f'side_layer{i}', layer)
        self._register_load_state_dict_pre_hook(self._adapt_pos_embed_hook)

        nn.init.trunc_normal_(self.pos_embed, std=.02)
        nn.init.trunc_normal_(self.cls_token, std=.02)
        _trunc_normal_init(self)
        self._freeze_stages()

    # ------------------------------------------------------------------
    # configuration
    # ------------------------------------------------------------------
    @classmethod
    def _parse_arch(cls, arch):
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(f'Unknown LV-ViT arch {arch!r}; choose one '
                                 f'of {sorted(cls.arch_zoo)} or pass a '
                                 'dict.')
            return arch, copy.deepcopy(cls.arch_zoo[arch])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or dict, got {type(arch)}')
        cfg = dict(arch)
        missing = (_ARCH_KEYS - {'mlp_ratio'}) - set(cfg)
        unknown = set(cfg) - _ARCH_KEYS
        if missing or unknown:
            raise ValueError(
                f'Bad custom LV-ViT arch {arch}: missing {sorted(missing)}, '
                f'unknown {sorted(unknown)}; allowed keys are '
                f'{sorted(_ARCH_KEYS)}.')
        return 'custom', cfg

    @staticmethod
    def _parse_out_indices(out_indices, depth):
        if out_indices is None:
            return None
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        result = []
        for i in out_indices:
            j = i + depth if i < 0 else i
            if not 0 <= j < depth:
                raise ValueError(f'out_indices must index one of the {depth}'
                                 f' blocks, got {i}')
            result.append(j)
        if not result:
            raise ValueError('out_indices must not be empty (None for '
                             'classification outputs)')
        return tuple(sorted(set(result)))

    @property
    def pos_grid(self) -> Tuple[int, int]:
        """The ``(h, w)`` token grid of the position embedding (square
        unless built with a non-square ``img_size``)."""
        return self._grid_of(self.pos_embed.shape[1] - 1, self._pos_hw)

    @staticmethod
    def _grid_of(n: int, hint: Tuple[int, int]) -> Tuple[int, int]:
        if hint[0] * hint[1] == n:
            return hint
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f'A position embedding of {n} patch tokens is '
                             'not a square grid; build the model with the '
                             'img_size it was trained at.')
        return side, side

    @property
    def out_channels(self) -> List[int]:
        n = 1 if self.out_indices is None else len(self.out_indices)
        return [self.embed_dims] * n

    # ------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------
    def adapt_to_checkpoint(self, state: dict, prefix: str = '') -> dict:
        """Reconcile the position-embedding grid with a state dict.

        ``state[prefix + 'pos_embed']`` of another grid either replaces this
        model's embedding parameter by one of the checkpoint's shape
        (``pos_embed_loading='keep'``) or is resized to this model's grid
        (``'resize'``). Returns ``state`` (resized entries are replaced in a
        shallow copy).
        """
        key = prefix + 'pos_embed'
        value = state.get(key)
        if value is None or tuple(value.shape) == tuple(self.pos_embed.shape):
            return state
        if value.dim() != 3 or value.shape[-1] != self.embed_dims:
            return state  # a structural mismatch: reported by the loader
        src = self._grid_of(value.shape[1] - 1, (0, 0))
        if self.pos_embed_loading == 'keep':
            with torch.no_grad():
                self.pos_embed = nn.Parameter(
                    torch.empty_like(value, device=self.pos_embed.device,
                                     dtype=self.pos_embed.dtype),
                    requires_grad=self.pos_embed.requires_grad)
            self._pos_hw = src
            print_log(f'LV-ViT: position embedding grid {src[0]}x{src[1]} '
                      'taken from the checkpoint', logger='current')
            return state
        state = dict(state)
        state[key] = resize_pos_embed(value, src, self.pos_grid,
                                      mode=self.interpolate_mode,
                                      num_extra_tokens=1)
        print_log(f'LV-ViT: checkpoint position embedding resized from '
                  f'{src[0]}x{src[1]} to {self.pos_grid}', logger='current')
        return state

    def _adapt_pos_embed_hook(self, state_dict, prefix, *args, **kwargs):
        adapted = self.adapt_to_checkpoint(state_dict, prefix)
        if adapted is not state_dict:
            state_dict[prefix + 'pos_embed'] = adapted[prefix + 'pos_embed']

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _pos_embed_for(self, grid: Tuple[int, int]) -> torch.Tensor:
        return resize_pos_embed(self.pos_embed, self.pos_grid, grid,
                                mode=self.interpolate_mode,
                                num_extra_tokens=1)

    def _run_block(self, blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(blk, x, use_reentrant=False)
        return blk(x)

    def forward(self, x: torch.Tensor,
                mix_token_mask: Optional[torch.Tensor] = None) -> tuple:
        """Args:
            x: ``(B, 3, H, W)``, sides multiples of ``patch_size``.
            mix_token_mask: optional ``(h, w)`` or ``(h * w,)`` bool mask of
                the token grid (MixToken): those tokens come from the batch
                flipped along dim 0 and are put back before the output, so
                output token ``n`` of image ``i`` always shows image ``i``'s
                own content at ``n`` or, inside the mask, the mixed-in
                token's result moved back (upstream ``aux_head`` input).
        """
        if x.dim() != 4:
            raise ValueError(f'LV-ViT expects (B, C, H, W) images, got '
                             f'shape {tuple(x.shape)}')
        p = self.patch_size
        if x.shape[-2] % p or x.shape[-1] % p:
            raise ValueError(
                f'LV-ViT needs image sides that are multiples of {p}, got '
                f'{x.shape[-2]}x{x.shape[-1]}. Resize or pad the input (e.g.'
                f' pad_size_divisor={p} in the data preprocessor).')
        x = self.patch_embed(x)
        B, D, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        mask = None
        if mix_token_mask is not None:
            mask = mix_token_mask.reshape(1, h * w, 1).to(torch.bool)
            x = torch.where(mask, x.flip(0), x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = self.pos_drop(x + self._pos_embed_for((h, w)))

        outs = []
        for i, blk in enumerate(self.blocks[:self._last_block + 1]):
            x = self._run_block(blk, x)
            if self.out_indices is not None and i in self.out_indices:
                patch = x[:, 1:]
                if mask is not None:
                    patch = torch.where(mask, patch.flip(0), patch)
                outs.append(patch.transpose(1, 2).reshape(B, D, h, w))
        if self.out_indices is not None:
            if self.use_side_layers:
                outs = [self.side_layer1(outs[0]), self.side_layer2(outs[1]),
                        self.side_layer3(outs[2]), self.side_layer4(outs[3])]
            return tuple(outs)
        x = self.norm(x)
        cls_token, patch = x[:, 0], x[:, 1:]
        if mask is not None:
            patch = torch.where(mask, patch.flip(0), patch)
        if self.out_type == 'cls_token':
            return (cls_token, )
        return ((cls_token, patch), )

    # ------------------------------------------------------------------
    # freezing
    # ------------------------------------------------------------------
    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: List[nn.Module] = [self.patch_embed]
        self.cls_token.requires_grad_(False)
        self.pos_embed.requires_grad_(False)
        frozen += list(self.blocks[:self.frozen_stages])
        if self.frozen_stages >= self.num_layers and self.norm is not None:
            frozen.append(self.norm)
        for module in frozen:
            module.eval()
            module.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self):
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            from mmengine.runner.checkpoint import CheckpointLoader
            ckpt = CheckpointLoader.load_checkpoint(
                self.init_cfg['checkpoint'], map_location='cpu')
            state = checkpoint_filter_fn(ckpt, self,
                                         self.init_cfg.get('prefix'))
            missing, unexpected = self.load_state_dict(state, strict=False)
            print_log(f'LV-ViT loaded {self.init_cfg["checkpoint"]} '
                      f'(missing {missing}, unexpected {unexpected})',
                      logger='current')
            self._is_init = True
            return
        super().init_weights()


def checkpoint_filter_fn(checkpoint: dict, model: Optional[LVViT] = None,
                         prefix: Optional[str] = None) -> dict:
    """The backbone state dict (no prefix) inside any LV-ViT checkpoint.

    Accepts released plain state dicts, timm training files
    (``state_dict_ema`` preferred, then ``state_dict``/``model``),
    ``module.`` prefixes and our classifier checkpoints (``backbone.``
    prefix). ``head.*``/``aux_head.*`` are dropped. With ``model`` the
    position embedding is reconciled by :meth:`LVViT.adapt_to_checkpoint`.
    ``prefix`` selects sub-module weights (e.g. ``'backbone.'``).
    """
    state = checkpoint
    if isinstance(checkpoint, dict):
        for key in ('state_dict_ema', 'state_dict', 'model'):
            if isinstance(checkpoint.get(key), dict):
                state = checkpoint[key]
                break
    out = {}
    for k, v in state.items():
        if not torch.is_tensor(v):
            continue
        while k.startswith('module.'):
            k = k[len('module.'):]
        out[k] = v
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.')
                                    for k in out) else ''
    if prefix:
        out = {k[len(prefix):]: v for k, v in out.items()
               if k.startswith(prefix)}
    out = {k: v for k, v in out.items()
           if not k.startswith(('head.', 'aux_head.'))}
    if model is not None:
        out = model.adapt_to_checkpoint(out)
    return out
