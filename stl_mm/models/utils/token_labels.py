"""Dense (per-token) labels from a token labeler's token logits.

STL turns the teacher's token logits ``(B, N, K)`` into one target
distribution per token: by default a hard Gumbel-Softmax sample over the K
classes, then label smoothing ``t = (1 - a) * t + a / K``. The other methods
of the reference implementation are available for ablations:

- ``'gumbel'``: Gumbel-Softmax over classes (``hard=True`` gives one-hot
  samples, ``hard=False`` the relaxed probabilities at temperature ``tau``).
- ``'argmax'``: one-hot of the most likely class ("no-gumbel").
- ``'softmax'``: the teacher's probabilities (upstream applies no
  smoothing there; pass ``smoothing=0.`` to reproduce it).
- ``'mean'``: one label per image from the token logits averaged over the
  tokens (then Gumbel or argmax as chosen by ``mean_method``), broadcast to
  every token so that the result keeps the ``(B, N, K)`` layout and can be
  mixed per token like the others.

Everything runs without autograd and in float32. Randomness comes from the
``generator`` given or, by default, from torch's global RNG, so a fixed
``torch.manual_seed`` reproduces the labels.
"""
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ['TOKEN_LABEL_METHODS', 'generate_token_labels',
           'smooth_labels', 'gumbel_softmax', 'mix_token_labels']

TOKEN_LABEL_METHODS = ('gumbel', 'argmax', 'softmax', 'mean')


def smooth_labels(labels: torch.Tensor, smoothing: float) -> torch.Tensor:
    """``(1 - a) * labels + a / K`` over the last dimension (K classes)."""
    if not 0. <= smoothing < 1.:
        raise ValueError(f'smoothing must be in [0, 1), got {smoothing}')
    if smoothing == 0:
        return labels
    return labels * (1. - smoothing) + smoothing / labels.shape[-1]


def gumbel_softmax(logits: torch.Tensor,
                   tau: float = 1.,
                   hard: bool = True,
                   generator: Optional[torch.Generator] = None
                   ) -> torch.Tensor:
    """Gumbel-Softmax over the last dimension, without autograd.

    Same distribution as :func:`torch.nn.functional.gumbel_softmax` (which
    cannot take a generator); the noise is ``-log(E)`` with ``E ~ Exp(1)``.
    With ``hard=True`` the result is the one-hot of the perturbed argmax
    (``tau`` then does not change the sample, only the relaxed values).
    """
    if tau <= 0:
        raise ValueError(f'tau must be positive, got {tau}')
    noise = torch.empty_like(logits).exponential_(generator=generator).log()
    perturbed = (logits - noise) / tau
    if hard:
        index = perturbed.argmax(dim=-1)
        return F.one_hot(index, logits.shape[-1]).to(logits.dtype)
    return perturbed.softmax(dim=-1)


@torch.no_grad()
def generate_token_labels(token_logits: torch.Tensor,
                          method: str = 'gumbel',
                          tau: float = 1.,
                          hard: bool = True,
                          smoothing: float = 0.1,
                          mean_method: str = 'gumbel',
                          generator: Optional[torch.Generator] = None
                          ) -> torch.Tensor:
    """Targets ``(B, N, K)`` (float32) from teacher token logits ``(B, N, K)``.

    Args:
        token_logits: the token labeler's per-token logits.
        method: one of :data:`TOKEN_LABEL_METHODS`.
        tau: Gumbel-Softmax temperature.
        hard: hard (one-hot) Gumbel samples; ``False`` keeps the relaxed
            probabilities.
        smoothing: label smoothing ``a`` applied last.
        mean_method: ``'gumbel'``, ``'argmax'`` or ``'softmax'``: how
            ``method='mean'`` turns the token-averaged logits into a label.
        generator: torch RNG for the Gumbel noise (global RNG if None); must
            live on the logits' device.
    """
    if method not in TOKEN_LABEL_METHODS:
        raise ValueError(f'Unknown token label method {method!r}; choose '
                         f'one of {TOKEN_LABEL_METHODS}.')
    if token_logits.dim() != 3:
        raise ValueError('token_logits must be (B, N, K), got shape '
                         f'{tuple(token_logits.shape)}')
    logits = token_logits.detach().float()
    num_tokens = logits.shape[1]
    if method == 'mean':
        if mean_method not in ('gumbel', 'argmax', 'softmax'):
            raise ValueError(f'Unknown mean_method {mean_method!r}')
        labels = generate_token_labels(
            logits.mean(dim=1, keepdim=True), method=mean_method, tau=tau,
            hard=hard, smoothing=smoothing, generator=generator)
        return labels.expand(-1, num_tokens, -1).contiguous()
    if method == 'gumbel':
        labels = gumbel_softmax(logits, tau=tau, hard=hard,
                                generator=generator)
    elif method == 'argmax':
        labels = F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).float()
    else:
        labels = logits.softmax(dim=-1)
    return smooth_labels(labels, smoothing)


def mix_token_labels(labels: torch.Tensor, index: torch.Tensor,
                     weight: torch.Tensor) -> torch.Tensor:
    """Mix per-token targets across the batch as the images were mixed.

    ``out[i, n] = (1 - w[i, n]) * labels[i, n] +
    w[i, n] * labels[index[i], n]``

    Args:
        labels: ``(B, N, K)`` token targets of the unmixed images.
        index: ``(B,)`` batch index of the image mixed into sample ``i``.
        weight: ``(B, N)`` (or ``(B, h, w)``, flattened row-major) share of
            that image in token ``n``: ``1 - lambda`` everywhere for mixup,
            1 inside and 0 outside the pasted box for CutMix.

    Returns a new tensor; ``labels`` is not modified.
    """
    B, N = labels.shape[:2]
    weight = weight.reshape(B, -1).to(labels)
    if weight.shape[1] != N:
        raise ValueError(
            f'The mixing record covers {weight.shape[1]} tokens but the '
            f'token labels have {N}: the token grid of the teacher does not '
            'match the patch grid the batch was mixed on (check the '
            'patch_size of the batch augment and the input size).')
    index = index.to(labels.device).long()
    weight = weight.unsqueeze(-1)
    return labels * (1. - weight) + labels[index] * weight
