"""FAN (Fully Attentional Networks) backbone for OpenMMLab 2.x.

Reference: Zhou et al., "Understanding The Robustness in Vision
Transformers", ICML 2022, and the STL token-labelling variants. Parameter
names equal the upstream checkpoint keys without ``head.*``/``aux_head.*``,
so upstream weights load unchanged; old upstream spellings are rewritten by
a ``load_state_dict`` pre-hook (:func:`fan_legacy_keys`), and the end of
this module matches state dicts to the variants of :attr:`FAN.arch_zoo`.
"""
import copy
import functools
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from stl_mm.registry import MODELS
from stl_mm.utils.checkpoint_reader import (BACKBONE_PREFIX,
                                            is_classifier_format,
                                            read_checkpoint, strip_module,
                                            tensors_only, timm_to_classifier)
from .fan_layers import (ClassAttentionBlock, ConvPatchEmbed, FANBlock,
                         FourierPositionalEncoding, HybridEmbed, LayerNorm2d,
                         OverlapPatchEmbed, grid_tokens_to_map,
                         init_fan_weights)

__all__ = [
    'FAN', 'fan_legacy_keys', 'upstream_to_classifier', 'to_classifier_format',
    'load_fan_checkpoint', 'find_matching_arch', 'nearest_arch',
    'check_state_matches', 'arch_shapes', 'register_variants',
    'CheckpointMismatchError', 'describe_checkpoint', 'check_fits_model'
]

_HYBRID_CHANNELS = (128, 256)
_DET_CHANNELS = 768
PATCH_STRIDE = 16


def _hybrid(embed_dims, depth, num_heads, hybrid_depths, dense_index):
    return dict(embed_dims=embed_dims, depth=depth, num_heads=num_heads,
                stem='hybrid', hybrid_depths=list(hybrid_depths),
                dense_index=dense_index)


def _conv(embed_dims, depth, num_heads):
    return dict(embed_dims=embed_dims, depth=depth, num_heads=num_heads,
                stem='conv')


def _build_arch_zoo() -> Dict[str, dict]:
    # Each hybrid variant has an STL token-labelling twin (``*_token``):
    # the same backbone, an alias here; its extra per-token classifier
    # (``aux_head``) lives in the head.
    def hybrid_and_token(name):
        return [name, name + '_token']

    return {
        **dict.fromkeys(['fan_tiny_12_p16_224'], _conv(192, 12, 4)),
        **dict.fromkeys(['fan_small_12_p16_224'], _conv(384, 12, 8)),
        **dict.fromkeys(['fan_base_18_p16_224'], _conv(448, 18, 8)),
        **dict.fromkeys(['fan_large_24_p16_224'], _conv(480, 24, 10)),
        **dict.fromkeys(hybrid_and_token('fan_tiny_8_p4_hybrid'),
                        _hybrid(192, 8, 8, (3, 3), 7)),
        **dict.fromkeys(hybrid_and_token('fan_small_12_p4_hybrid'),
                        _hybrid(384, 10, 8, (3, 3), 9)),
        **dict.fromkeys(hybrid_and_token('fan_base_16_p4_hybrid'),
                        _hybrid(448, 16, 8, (3, 3), 15)),
        **dict.fromkeys(hybrid_and_token('fan_large_16_p4_hybrid'),
                        _hybrid(480, 22, 10, (3, 5), 18)),
        # FAN-ViT-S with squeeze-excitation MLPs instead of channel attention
        # (no released weights; upstream's forward crashes, NVlabs/FAN#13)
        'fan_small_12_p16_224_se_attn': dict(_conv(384, 12, 8), block='se'),
        # Two-width FAN: 20 blocks of 528 channels, a 3x3 stride-2
        # overlapping patch embedding to 768 channels (stride 32), 3 more.
        'fan_Xlarge_16_p4_hybrid': dict(
            _hybrid(528, 23, 11, (3, 7), 19),
            stage2=dict(first_block=20, embed_dims=768, num_heads=16)),
    }


_ARCH_KEYS = {'embed_dims', 'depth', 'num_heads', 'stem', 'hybrid_depths',
              'dense_index', 'stage2', 'block'}
_STAGE2_KEYS = {'first_block', 'embed_dims', 'num_heads'}


_FUSED_QKV = re.compile(r'^(cls_attn_blocks\.\d+\.attn\.)qkv\.(weight|bias)$')


def fan_legacy_keys(state: dict, prefix: str = '') -> dict:
    """Old upstream spellings of FAN keys -> ours (a new dict).

    ``<prefix>pos_embeder.*`` becomes ``<prefix>pos_embed.*``; a fused
    class-attention ``<prefix>cls_attn_blocks.N.attn.qkv.{weight,bias}``
    ((3C, C) / (3C,)) is split into ``q``/``k``/``v`` thirds. Other keys
    pass unchanged, in order. (The role of timm's ``checkpoint_filter_fn``.)
    """
    legacy = prefix + 'pos_embeder.'
    out = {}
    for k, v in state.items():
        if k.startswith(legacy):
            k = prefix + 'pos_embed.' + k[len(legacy):]
        m = (_FUSED_QKV.match(k[len(prefix):])
             if k.startswith(prefix) else None)
        if m is None:
            out[k] = v
            continue
        if v.shape[0] % 3:
            raise ValueError(f'Cannot split fused {k} of shape '
                             f'{tuple(v.shape)} into q, k, v thirds')
        for name, part in zip('qkv', v.chunk(3, dim=0)):
            out[f'{prefix}{m.group(1)}{name}.{m.group(2)}'] = part.clone()
    return out


def _legacy_keys_pre_hook(state_dict, prefix, *args, **kwargs) -> None:
    """``load_state_dict`` pre-hook: rewrite old spellings in place."""
    if not any(k.startswith(prefix + 'pos_embeder.') or (
            k.startswith(prefix + 'cls_attn_blocks.') and '.qkv.' in k)
               for k in state_dict):
        return
    fixed = fan_legacy_keys(state_dict, prefix)
    state_dict.clear()
    state_dict.update(fixed)


@MODELS.register_module()
class FAN(BaseModule):
    """FAN backbone: ViT-style (conv stem) or hybrid (ConvNeXt stem).

    Data flow: stem (stride 16) -> Fourier positional encoding -> ``depth``
    FAN blocks (self-attention token mixing + attentional channel
    processing) -> class token prepended -> two class-attention blocks ->
    final LayerNorm.

    Args:
        arch (str | dict): one of :attr:`arch_zoo` (the 12 upstream model
            names; a ``*_token`` name builds the same backbone as its hybrid
            base) or a dict with ``embed_dims``, ``depth``, ``num_heads``,
            ``stem`` (``'conv'`` or ``'hybrid'``), optional
            ``hybrid_depths`` (default ``[3, 3]``), ``dense_index``
            (hybrid only; FAN block whose output is dense output 2, default
            the last block) and ``stage2``
            (``dict(first_block, embed_dims, num_heads)``: blocks from
            ``first_block`` on have another width and head count; the block
            before them ends with an overlapping 3x3 stride-2 patch
            embedding, ``blocks.<first_block - 1>.downsample``, so they run
            at stride 32 — ``fan_Xlarge_16_p4_hybrid``) and ``block``
            (``'fan'``, default, or ``'se'``: token mixing with an SE-gated
            conv MLP, see :class:`FANBlock` —
            ``fan_small_12_p16_224_se_attn``).
        out_indices (Sequence[int] | None): ``None`` for classification
            outputs. Otherwise a subset of ``(0, 1, 2, 3)`` (``-1`` means 3)
            selecting dense maps ``(B, C_i, H_i, W_i)``:

            - hybrid stem: 0 = ConvNeXt stage 1 (128 ch, stride 4),
              1 = ConvNeXt stage 2 (256 ch, stride 8), 2 = output of FAN
              block ``dense_index`` (D, stride 16), 3 = patch tokens after
              the class-attention blocks, before the final norm (D,
              stride 16).
            - conv stem: 0, 1, 2 = outputs of FAN blocks ``depth // 3``,
              ``2 * depth // 3 - 1`` and ``depth - 1`` (for depth 12 these
              are blocks 4, 7, 11 as in upstream segmentation), 3 = patch
              tokens after the class-attention blocks; all stride 16.

            Every block needed for the requested maps runs; the final norm
            is unused in this mode.
        out_type (str): classification output. ``'cls_token'`` returns
            ``(cls,)`` with ``cls`` ``(B, C)``; ``'cls_and_patch'`` returns
            ``((cls, patch),)`` with ``patch`` ``(B, N, C)`` in row-major
            token order. Both are taken after the final LayerNorm.
        drop_path_rate (float): stochastic depth rate of the FAN blocks (the
            class-attention blocks and the ConvNeXt stem have none).
        drop_path_schedule (str): ``'uniform'`` (default, upstream FAN/STL):
            every FAN block drops with ``drop_path_rate``; ``'linear'``: the
            rate increases linearly from 0 (first block) to
            ``drop_path_rate`` (last block), the DeiT/mmpretrain habit, which
            halves the average rate.
        with_cp (bool): activation checkpointing of every FAN block while
            gradients are needed.
        frozen_stages (int): -1 freezes nothing; 0 freezes the stem and the
            positional encoding; ``i`` (1..depth) also the first ``i`` FAN
            blocks; ``> depth`` additionally the class token, the
            class-attention blocks and the final norm. Frozen parts get
            ``requires_grad=False`` and stay in eval mode.
        norm_eval (bool): keep every BatchNorm layer in eval mode (frozen
            running statistics) while the model trains. LayerNorm has no
            train/eval difference.
        det_downsample (bool): dense mode only. Adds ``learnable_downsample``
            (3x3 stride-2 conv, D -> 768) on output 3, making it stride 32
            (the detection backbone).
        out_norms (bool): dense mode only. Adds a channels-first LayerNorm
            ``out_norms.<i>`` on every requested output ``i``.
        fused_attn (bool): use ``F.scaled_dot_product_attention``; ``False``
            computes attention with explicit matmul and softmax.
        init_cfg (dict | list | None): mmengine init config. With
            ``dict(type='Pretrained', checkpoint=PATH[, prefix='backbone.'])``
            any upstream or stl_mm checkpoint is loaded through
            :func:`load_fan_checkpoint`.
        pos_freqs (str | None): frequency scheme of the positional encoding
            (see :class:`FourierPositionalEncoding`). ``None`` follows
            upstream: ``'paired'`` for classification outputs, ``'linear'``
            in dense mode (the upstream segmentation/detection backbones
            compute the frequencies differently from the classifiers; their
            released weights were fine-tuned that way).

    Note:
        Upstream quirks reproduced on purpose (the released weights depend
        on them): the value MLP of channel processing has no activation; its
        output norm ``norm_v`` uses eps 1e-5 (all other LayerNorms 1e-6);
        the ConvNeXt stem normalises with the unbiased variance after its
        first norm (:class:`LayerNorm2d`); patch tokens leave each
        class-attention block doubled (:class:`ClassAttentionBlock`).
    """

    arch_zoo: Dict[str, dict] = _build_arch_zoo()
    num_extra_tokens = 1

    def __init__(self,
                 arch: Union[str, dict],
                 out_indices: Optional[Sequence[int]] = None,
                 out_type: str = 'cls_token',
                 drop_path_rate: float = 0.,
                 drop_path_schedule: str = 'uniform',
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 det_downsample: bool = False,
                 out_norms: bool = False,
                 fused_attn: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 pos_freqs: Optional[str] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_name, cfg = self._parse_arch(arch)
        self.arch_settings = cfg
        D = cfg['embed_dims']
        self.num_layers = depth = cfg['depth']
        self.stem_type = cfg['stem']
        # per-block width, heads and output stride (stage2: two widths)
        stage2 = cfg.get('stage2')
        first2 = stage2['first_block'] if stage2 else depth
        self.block_dims = [D if i < first2 else stage2['embed_dims']
                           for i in range(depth)]
        block_heads = [cfg['num_heads'] if i < first2 else
                       stage2['num_heads'] for i in range(depth)]
        self.block_strides = [PATCH_STRIDE if i < first2 else
                              2 * PATCH_STRIDE for i in range(depth)]
        #: width of the class token, class attention, norm and head input
        self.embed_dims = D_out = self.block_dims[-1]
        self.num_heads = block_heads[-1]

        if out_type not in ('cls_token', 'cls_and_patch'):
            raise ValueError(f"out_type must be 'cls_token' or "
                             f"'cls_and_patch', got {out_type!r}")
        self.out_type = out_type
        self.out_indices = self._parse_out_indices(out_indices)
        if self.out_indices is None and (det_downsample or out_norms):
            raise ValueError(
                'det_downsample and out_norms only apply to dense outputs; '
                'set out_indices (e.g. (0, 1, 2, 3)).')
        self.det_downsample = det_downsample
        self.with_cp = with_cp
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        # ---- layers (creation order follows the upstream key order) ----
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D_out))
        if self.stem_type == 'hybrid':
            self.patch_embed = HybridEmbed(D, cfg['hybrid_depths'])
        else:
            self.patch_embed = ConvPatchEmbed(D)
        if pos_freqs is None:
            pos_freqs = 'paired' if self.out_indices is None else 'linear'
        self.pos_embed = FourierPositionalEncoding(D, freqs=pos_freqs)
        if drop_path_schedule not in ('uniform', 'linear'):
            raise ValueError("drop_path_schedule must be 'uniform' or "
                             f"'linear', got {drop_path_schedule!r}")
        if drop_path_schedule == 'linear' and depth > 1:
            dpr = [drop_path_rate * i / (depth - 1) for i in range(depth)]
        else:
            dpr = [drop_path_rate] * depth
        self.blocks = nn.ModuleList([
            FANBlock(self.block_dims[i], block_heads[i], drop_path=dpr[i],
                     fused_attn=fused_attn, se_mlp=cfg.get('block') == 'se')
            for i in range(depth)
        ])
        if stage2:
            # upstream names: the widening embedding belongs to the block
            # before it (applied by ``forward``, it changes the grid)
            self.blocks[first2 - 1].downsample = OverlapPatchEmbed(
                D, stage2['embed_dims'])
        self.cls_attn_blocks = nn.ModuleList([
            ClassAttentionBlock(D_out, self.num_heads, tokens_norm=True,
                                fused_attn=fused_attn) for _ in range(2)
        ])
        self.norm = nn.LayerNorm(D_out, eps=1e-6)

        # ---- dense outputs ----
        if self.stem_type == 'hybrid':
            self.dense_blocks = {cfg['dense_index']: [2]}
            channels = [*_HYBRID_CHANNELS, self.block_dims[cfg['dense_index']]]
            strides = [4, 8, self.block_strides[cfg['dense_index']]]
        else:
            self.dense_blocks = {}
            blk_ids = [max(b, 0) for b in
                       (depth // 3, 2 * depth // 3 - 1, depth - 1)]
            for out_id, blk_id in enumerate(blk_ids):
                self.dense_blocks.setdefault(blk_id, []).append(out_id)
            channels = [self.block_dims[b] for b in blk_ids]
            strides = [self.block_strides[b] for b in blk_ids]
        channels.append(D_out)
        strides.append(self.block_strides[-1])
        if det_downsample and stage2:
            raise ValueError(
                'det_downsample adds a stride-2 conv on output 3, which for '
                'a two-width arch (stage2) is already at stride 32; leave '
                'det_downsample off.')
        if det_downsample:
            self.learnable_downsample = nn.Conv2d(
                D_out, _DET_CHANNELS, kernel_size=3, stride=2, padding=1)
            channels[3] = _DET_CHANNELS
            strides[3] = 2 * PATCH_STRIDE
        self._all_channels = channels
        self._all_strides = strides
        if out_norms:
            self.out_norms = nn.ModuleDict({
                str(i): LayerNorm2d(channels[i])
                for i in self.out_indices
            })
        else:
            self.out_norms = None
        self._last_block = self._last_needed_block()

        init_fan_weights(self)
        nn.init.trunc_normal_(self.cls_token, std=.02)
        self._register_load_state_dict_pre_hook(_legacy_keys_pre_hook)
        self._freeze_stages()

    # ------------------------------------------------------------------
    # configuration helpers
    # ------------------------------------------------------------------
    @classmethod
    def _parse_arch(cls, arch):
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(
                    f'Unknown FAN arch {arch!r}; choose one of '
                    f'{sorted(cls.arch_zoo)} or pass a dict.')
            return arch, copy.deepcopy(cls.arch_zoo[arch])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or dict, got {type(arch)}')
        cfg = dict(arch)
        unknown = set(cfg) - _ARCH_KEYS
        missing = {'embed_dims', 'depth', 'num_heads', 'stem'} - set(cfg)
        if unknown or missing:
            raise ValueError(
                f'Bad custom FAN arch {arch}: missing {sorted(missing)}, '
                f'unknown {sorted(unknown)}; allowed keys are '
                f'{sorted(_ARCH_KEYS)}.')
        if cfg['stem'] not in ('conv', 'hybrid'):
            raise ValueError(f"arch['stem'] must be 'conv' or 'hybrid', "
                             f"got {cfg['stem']!r}")
        if cfg['embed_dims'] % cfg['num_heads']:
            raise ValueError('embed_dims must be divisible by num_heads')
        if cfg.get('block', 'fan') not in ('fan', 'se'):
            raise ValueError(f"arch['block'] must be 'fan' or 'se', got "
                             f"{cfg['block']!r}")
        if cfg.get('stage2') is not None:
            stage2 = cfg['stage2']
            if (not isinstance(stage2, dict)
                    or set(stage2) != _STAGE2_KEYS
                    or not 0 < stage2['first_block'] < cfg['depth']
                    or stage2['embed_dims'] % stage2['num_heads']):
                raise ValueError(
                    f"arch['stage2'] must be a dict with keys "
                    f'{sorted(_STAGE2_KEYS)}, 0 < first_block < depth and '
                    f'embed_dims divisible by num_heads; got {stage2}')
        if cfg['stem'] == 'conv' and cfg['embed_dims'] % 8:
            raise ValueError('the conv stem needs embed_dims % 8 == 0')
        if cfg['stem'] == 'hybrid':
            cfg.setdefault('hybrid_depths', [3, 3])
            cfg.setdefault('dense_index', cfg['depth'] - 1)
            if not 0 <= cfg['dense_index'] < cfg['depth']:
                raise ValueError('dense_index must index a FAN block')
        return 'custom', cfg

    @staticmethod
    def _parse_out_indices(out_indices):
        if out_indices is None:
            return None
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        result = []
        for i in out_indices:
            j = i + 4 if i < 0 else i
            if not 0 <= j <= 3:
                raise ValueError(
                    f'out_indices must be within (0, 1, 2, 3), got {i}')
            result.append(j)
        if not result:
            raise ValueError('out_indices must not be empty (use None for '
                             'classification outputs)')
        return tuple(sorted(set(result)))

    def _last_needed_block(self) -> int:
        if self.out_indices is None or 3 in self.out_indices:
            return self.num_layers - 1
        needed = [blk for blk, outs in self.dense_blocks.items()
                  if set(outs) & set(self.out_indices)]
        return max(needed, default=-1)

    @property
    def out_channels(self) -> List[int]:
        """Channels of the outputs (dense mode) or ``[embed_dims]``."""
        if self.out_indices is None:
            return [self.embed_dims]
        return [self._all_channels[i] for i in self.out_indices]

    @property
    def out_strides(self) -> List[int]:
        """Strides of the dense outputs (``[16]`` in classification mode)."""
        if self.out_indices is None:
            return [self.block_strides[-1]]
        return [self._all_strides[i] for i in self.out_indices]

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f'FAN expects (B, C, H, W) images, got shape '
                             f'{tuple(x.shape)}')
        H, W = x.shape[-2], x.shape[-1]
        if H % PATCH_STRIDE or W % PATCH_STRIDE:
            raise ValueError(
                f'FAN needs image sides that are multiples of {PATCH_STRIDE}'
                f', got {H}x{W}. Resize or pad the input to a multiple of '
                f'{PATCH_STRIDE} (e.g. a Pad/size_divisor={PATCH_STRIDE} '
                f'step in the data preprocessor).')

    def _run_block(self, blk: nn.Module, x: torch.Tensor, hw) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(blk, x, hw[0], hw[1], use_reentrant=False)
        return blk(x, hw[0], hw[1])

    def forward(self, x: torch.Tensor) -> tuple:
        self._check_input(x)
        B = x.shape[0]
        x, hw, stem_feats = self.patch_embed(x)
        x = x + self.pos_embed(hw[0], hw[1])

        dense = self.out_indices is not None
        outs: Dict[int, torch.Tensor] = {}
        if dense and self.stem_type == 'hybrid':
            outs[0], outs[1] = stem_feats[0], stem_feats[1]

        for i, blk in enumerate(self.blocks):
            if i > self._last_block:
                break
            x = self._run_block(blk, x, hw)
            if dense and i in self.dense_blocks:
                feat = grid_tokens_to_map(x, hw)
                for out_id in self.dense_blocks[i]:
                    outs[out_id] = feat
            if blk.downsample is not None:  # stage2 arch: width/grid change
                x, hw = blk.downsample(x, hw)

        if dense and 3 not in self.out_indices:
            return self._dense_outputs(outs)

        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        for blk in self.cls_attn_blocks:
            x = blk(x)

        if dense:
            out3 = grid_tokens_to_map(x[:, 1:], hw)
            if self.det_downsample:
                out3 = self.learnable_downsample(out3)
            outs[3] = out3
            return self._dense_outputs(outs)

        x = self.norm(x)
        if self.out_type == 'cls_token':
            return (x[:, 0], )
        return ((x[:, 0], x[:, 1:]), )

    def _dense_outputs(self, outs: Dict[int, torch.Tensor]) -> tuple:
        result = []
        for i in self.out_indices:
            feat = outs[i]
            if self.out_norms is not None:
                feat = self.out_norms[str(i)](feat)
            result.append(feat)
        return tuple(result)

    # ------------------------------------------------------------------
    # training helpers
    # ------------------------------------------------------------------
    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        mods: List[nn.Module] = [self.patch_embed, self.pos_embed]
        mods += list(self.blocks[:self.frozen_stages])
        if self.frozen_stages > self.num_layers:
            mods += [*self.cls_attn_blocks, self.norm]
        return mods

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False
        if self.frozen_stages > self.num_layers:
            self.cls_token.requires_grad = False

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
        """Layer id of a parameter for layer-wise learning-rate decay.

        Same scheme as mmpretrain's ``VisionTransformer``: ``cls_token``,
        ``pos_embed.*`` and ``patch_embed.*`` are layer 0, ``blocks.i.*`` is
        layer ``i + 1``, everything else (class-attention blocks, final
        norm, dense-output extras and parameters outside ``prefix`` such as
        heads) is the last layer.

        Returns:
            tuple[int, int]: ``(layer_id, num_layers)`` with
            ``num_layers = depth + 2``.
        """
        num_layers = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name == 'cls_token' or name.startswith(('pos_embed.',
                                                   'patch_embed.')):
            layer_id = 0
        elif name.startswith('blocks.'):
            layer_id = int(name.split('.')[1]) + 1
        else:
            layer_id = num_layers - 1
        return layer_id, num_layers

    # ------------------------------------------------------------------
    # weights
    # ------------------------------------------------------------------
    def init_weights(self):
        """Load ``Pretrained`` checkpoints through the FAN converter.

        Default (upstream-style) initialisation already happens in
        ``__init__``; other ``init_cfg`` types are handled by mmengine.
        """
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
        """Load backbone weights from any supported FAN checkpoint.

        The file is converted to the classifier layout, the ``prefix`` part
        is checked against this model (a wrong variant raises ``ValueError``
        naming the variant that fits) and loaded non-strictly. Missing
        ``learnable_downsample.*``/``out_norms.*`` keep their initialisation;
        unused entries are logged.
        """
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
        missing, unexpected = self.load_state_dict(backbone_state,
                                                   strict=False)
        unused = [k for k in state if not k.startswith(prefix)]
        unused += [prefix + k for k in unexpected]
        if self.out_indices is not None:
            unused += [prefix + k for k in backbone_state
                       if k.startswith('norm.')]
        print_log(f'Loaded FAN backbone ({self.arch_name}) weights from '
                  f'{checkpoint}.', logger='current')
        if unused:
            print_log('Checkpoint entries not used by this backbone: '
                      + _summarise(unused), logger='current')
        if missing:
            print_log('Backbone parameters initialised from scratch (not in '
                      'the checkpoint): ' + _summarise(missing),
                      logger='current')


def _summarise(keys: Sequence[str]) -> str:
    """Group keys by their first two name parts for a short log line."""
    groups: Dict[str, int] = {}
    for k in keys:
        parts = k.split('.')
        group = '.'.join(parts[:2]) if len(parts) > 2 else k
        groups[group] = groups.get(group, 0) + 1
    return ', '.join(f'{g}.* ({n})' if n > 1 else g
                     for g, n in groups.items())


# ---------------------------------------------------------------------------
# checkpoints: FAN weights in the classifier layout
# ---------------------------------------------------------------------------
def upstream_to_classifier(state: Dict[str, torch.Tensor]) -> dict:
    """Upstream (timm-style) FAN state dict -> classifier format.

    Accepts ``module.``-prefixed keys, ``pos_embeder.*`` and fused
    ``cls_attn_blocks.N.attn.qkv.*``. ``head.*`` becomes ``head.fc.*``,
    ``aux_head.*`` becomes ``head.aux_fc.*``, the rest ``backbone.*``.
    """
    return fan_legacy_keys(timm_to_classifier(state), BACKBONE_PREFIX)


def to_classifier_format(state: dict) -> dict:
    """Any FAN state dict (upstream or classifier layout, ``module.``
    prefixes, legacy spellings) -> classifier format."""
    state = strip_module(tensors_only(state))
    if is_classifier_format(state):
        return fan_legacy_keys(state, BACKBONE_PREFIX)
    return upstream_to_classifier(state)


def load_fan_checkpoint(path: str, prefer_ema: bool = True,
                        trusted: Optional[bool] = None) -> dict:
    """Load any supported FAN checkpoint file as a classifier-format dict.

    Args:
        path: local file, or an http(s) URL (downloaded once to torch's hub
            cache).
        prefer_ema: take the EMA weights when the file has them (upstream
            ``state_dict_ema``; for mmengine EMAHook files ``state_dict``
            already holds the EMA weights). ``False`` takes the raw ones.
        trusted: passed to :func:`stl_mm.utils.checkpoint.safe_load`
            (``None`` reads ``STL_MM_TRUST_CHECKPOINTS``).

    Returns:
        dict: ``backbone.*``, ``head.fc.*`` and, for token variants,
        ``head.aux_fc.*`` tensors. Entries of stl_mm checkpoints that are
        neither (e.g. a segmentation decode head) are kept as they are.
    """
    contents = read_checkpoint(path, prefer_ema=prefer_ema, trusted=trusted)
    return to_classifier_format(contents.state_dict)


# ---------------------------------------------------------------------------
# variant matching: which zoo entry of the FAN family a state dict fits
# ---------------------------------------------------------------------------
# keys a backbone may lack in a checkpoint: detection/dense extras
OPTIONAL_BACKBONE_PREFIXES = ('learnable_downsample.', 'out_norms.')
# unexpected checkpoint keys under these prefixes mean another structure
_STRUCTURAL_PREFIXES = ('cls_token', 'patch_embed.', 'pos_embed.', 'blocks.',
                        'cls_attn_blocks.', 'norm.', 'layers.')

#: upstream variant name -> the backbone class whose arch_zoo builds it.
#: FAN registers itself below, FAN-Swin in its own module
#: (:func:`register_variants`), so matching covers the whole family without
#: this module importing the other backbones.
_FAMILY: Dict[str, type] = {}


def register_variants(cls: type) -> type:
    """Make the ``arch_zoo`` names of backbone class ``cls`` known to the
    variant matching (:func:`find_matching_arch`, error hints)."""
    for arch in cls.arch_zoo:
        _FAMILY.setdefault(arch, cls)
    return cls


register_variants(FAN)


class CheckpointMismatchError(ValueError):
    """The checkpoint does not hold the weights the model needs."""

    user_facing = True  # tools print the message alone (stl_mm.utils.cli)


def _base_archs() -> List[str]:
    """The registered arch names that are not ``_token`` aliases."""
    return [a for a in _FAMILY if not a.endswith('_token')]


@functools.lru_cache(maxsize=None)
def arch_shapes(arch: str) -> Dict[str, tuple]:
    """Backbone key -> shape of a zoo arch, built on the meta device."""
    with torch.device('meta'):
        model = _FAMILY[arch](arch)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _backbone_part(state: dict) -> dict:
    """Backbone entries (no prefix) of a classifier- or upstream-format dict
    or of a plain backbone state dict."""
    state = strip_module(state)
    if is_classifier_format(state):
        state = {k[len(BACKBONE_PREFIX):]: v for k, v in state.items()
                 if k.startswith(BACKBONE_PREFIX)}
        return fan_legacy_keys(state)
    state = fan_legacy_keys(state)
    return {k: v for k, v in state.items()
            if not k.startswith(('head.', 'aux_head.'))}


def _has_aux_head(state: dict) -> bool:
    return any(k.startswith(('aux_head.', 'head.aux_fc.', 'module.aux_head.'))
               for k in state)


def _shape(v) -> tuple:
    return tuple(v.shape) if hasattr(v, 'shape') else tuple(v)


def _problems(model_shapes: Dict[str, tuple],
              ckpt_shapes: Dict[str, tuple]) -> List[str]:
    problems = []
    for k, shape in model_shapes.items():
        if k not in ckpt_shapes:
            if not k.startswith(OPTIONAL_BACKBONE_PREFIXES):
                problems.append(f'{k}: missing in the checkpoint (model '
                                f'shape {list(shape)})')
        elif ckpt_shapes[k] != shape:
            problems.append(f'{k}: checkpoint shape {list(ckpt_shapes[k])} '
                            f'!= model shape {list(shape)}')
    for k, shape in ckpt_shapes.items():
        if (k not in model_shapes and k.startswith(_STRUCTURAL_PREFIXES)
                and not k.endswith('.attn_mask')):  # FAN-Swin: recomputed
            problems.append(f'{k}: not in the model (checkpoint shape '
                            f'{list(shape)})')
    return problems


def find_matching_arch(state: dict) -> Optional[str]:
    """Name of the upstream variant whose backbone shapes fit ``state``.

    ``state`` may be classifier-format, upstream-format or a bare backbone
    state dict. Token variants are reported (``*_token``) when the state has
    an aux head. Returns ``None`` when no variant fits.
    """
    ckpt_shapes = {k: _shape(v) for k, v in _backbone_part(state).items()}
    with_aux = _has_aux_head(state)
    for arch in _base_archs():
        if not _problems(arch_shapes(arch), ckpt_shapes):
            if with_aux and arch + '_token' in _FAMILY:
                return arch + '_token'
            return arch
    return None


def nearest_arch(state: dict) -> Tuple[str, int]:
    """The base variant with the fewest non-fitting keys, and that count."""
    ckpt_shapes = {k: _shape(v) for k, v in _backbone_part(state).items()}
    scores = [(len(_problems(arch_shapes(a), ckpt_shapes)), a)
              for a in _base_archs()]
    count, arch = min(scores)
    return arch, count


def _listing(problems: List[str], limit: int) -> str:
    """The first ``limit`` problems, one per indented line."""
    more = (f'\n  ... and {len(problems) - limit} more'
            if len(problems) > limit else '')
    return ''.join(f'\n  {p}' for p in problems[:limit]) + more


def check_state_matches(model_state: dict, ckpt_state: dict,
                        arch_name: str) -> None:
    """Raise ``ValueError`` unless ``ckpt_state`` fits ``model_state``.

    Both may be bare backbone dicts or carry the ``backbone.`` prefix.
    Missing keys (other than ``learnable_downsample.*``/``out_norms.*``),
    shape mismatches and checkpoint keys of FAN structures the model lacks
    (more blocks, another stem) are reported, the first five with shapes,
    together with the upstream variant whose shapes do fit (if any).
    """
    model_shapes = {k: _shape(v) for k, v in _backbone_part(
        model_state).items()}
    ckpt_backbone = _backbone_part(ckpt_state)
    ckpt_shapes = {k: _shape(v) for k, v in ckpt_backbone.items()}
    problems = _problems(model_shapes, ckpt_shapes)
    if not problems:
        return
    # the whole state: a file with the aux head fits the *_token variant
    fit = find_matching_arch(ckpt_state)
    if fit is not None:
        kind = (' (the token-labeling variant: the file has the aux head)'
                if fit.endswith('_token') else '')
        hint = (f"Its shapes fit the variant '{fit}'{kind}: build the model "
                f"with arch='{fit}'.")
    else:
        hint = ('No upstream FAN variant fits its shapes; is it a FAN '
                'checkpoint, and is it complete?')
    raise ValueError(
        f"The checkpoint does not fit FAN arch '{arch_name}' "
        f'({len(problems)} mismatching or missing keys):'
        f'{_listing(problems, 5)}\n{hint}')


# ---------------------------------------------------------------------------
# does a checkpoint fit a whole model (classifier, teacher)?
# ---------------------------------------------------------------------------
def describe_checkpoint(state: dict) -> str:
    """What a classifier-format state dict holds, in words: the FAN variant
    whose shapes fit (or width and depth when none does), the class count
    and whether it has the token-label (aux) head."""
    backbone = _backbone_part(state)
    parts = []
    arch = find_matching_arch(state) if backbone else None
    if arch is not None:
        parts.append(f"FAN variant '{arch}'")
    elif 'cls_token' in backbone:
        depth = len({k.split('.')[1] for k in backbone
                     if k.startswith('blocks.')})
        parts.append(f'a FAN of no zoo variant (embed_dims '
                     f'{_shape(backbone["cls_token"])[-1]}, depth {depth})')
    elif backbone:
        parts.append('a backbone of no FAN variant')
    else:
        parts.append('no backbone weights')
    fc = state.get('head.fc.weight')
    if fc is not None:
        parts.append(f'{_shape(fc)[0]} classes')
    parts.append('with the token-label head (head.aux_fc)'
                 if _has_aux_head(state) else 'without a token-label head')
    return ', '.join(parts)


def check_fits_model(model_state: dict, ckpt_state: dict, source: str,
                     what: str = 'model', strict_unexpected: bool = False,
                     ignore_prefixes=('data_preprocessor.', ),
                     note: str = '') -> List[str]:
    """Raise :class:`CheckpointMismatchError` unless ``ckpt_state`` fits.

    Both are classifier-format state dicts (``ckpt_state`` already
    converted). A key of the model missing from the checkpoint, or of
    another shape, does not fit; checkpoint keys the model lacks only do
    with ``strict_unexpected``. The message lists the first problems with
    shapes and says what the checkpoint holds (:func:`describe_checkpoint`)
    and what the model is; ``note`` is appended.

    Returns:
        list: the checkpoint keys the model does not use.
    """
    def keep(k):
        return not k.startswith(tuple(ignore_prefixes))

    missing = sorted(k for k in model_state if keep(k) and k not in
                     ckpt_state)
    # head keys first: their shapes tell the class counts
    wrong = sorted((k for k in model_state if k in ckpt_state and _shape(
        ckpt_state[k]) != _shape(model_state[k])),
                   key=lambda k: (not k.startswith('head.'), k))
    unexpected = sorted(k for k in ckpt_state if keep(k) and k not in
                        model_state)
    problems = [f"'{k}': checkpoint {list(_shape(ckpt_state[k]))} != "
                f'model {list(_shape(model_state[k]))}' for k in wrong]
    problems += [f"'{k}': missing in the checkpoint" for k in missing]
    if strict_unexpected:
        problems += [f"'{k}': not in the model" for k in unexpected]
    if not problems:
        return unexpected
    counts = ', '.join(
        f'{n} {label}' for n, label in
        ((len(wrong), 'of another shape'), (len(missing), 'missing'),
         (len(unexpected) if strict_unexpected else 0, 'unexpected')) if n)
    raise CheckpointMismatchError(
        f'The checkpoint "{source}" does not fit the {what} of this config '
        f'({counts} weights):{_listing(problems, 6)}\n'
        f'The checkpoint holds {describe_checkpoint(ckpt_state)}; the '
        f'{what} is {describe_checkpoint(model_state)}. Use the checkpoint '
        f'of this {what}, or change the config to match the checkpoint '
        f'(arch, num_classes, head type).{note}')
