"""Catch typos in ``--cfg-options`` keys before they are merged.

mmengine merges ``--cfg-options a.b.c=v`` by creating whatever keys are
missing, so ``trian_dataloader.batch_size=8`` or ``train_cfg.max_epoch=1``
is silently ignored (or fails deep in a builder). A key is refused when a
level of it does not exist in the config but a key of nearly the same
spelling does; new keys with no close existing one are allowed (adding an
option, e.g. ``train_dataloader.dataset.indices=16``).
"""
import difflib
from typing import Optional

from mmengine.config import Config

from .errors import UserError

__all__ = ['check_cfg_options']

_CUTOFF = 0.85


def _close_match(word: str, keys: list) -> list:
    """``[key]`` spelt nearly like ``word`` (similar, or the same letters
    in another order: 'haed' for 'head'), else ``[]``."""
    close = difflib.get_close_matches(word, keys, n=1, cutoff=_CUTOFF)
    if not close and len(word) >= 3:
        close = [k for k in keys if sorted(k) == sorted(word)][:1]
    return close


def check_cfg_options(cfg: Config, options: Optional[dict]) -> None:
    """Raise :class:`UserError` for a probably misspelt option key.

    Args:
        cfg: the config before the options are merged.
        options: the ``key=value`` dict from mmengine's ``DictAction``.
    """
    for key in options or {}:
        node = cfg if isinstance(cfg, dict) else dict(cfg.items())
        parents = []
        for part in key.split('.'):
            if isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) >= len(node):
                    break
                node = node[int(part)]
            elif isinstance(node, dict):
                if part not in node:
                    close = _close_match(part, [str(k) for k in node])
                    if close:
                        where = '.'.join(parents) or 'the top level'
                        raise UserError(
                            f'--cfg-options {key}: the config has no key '
                            f'"{part}" at {where}; did you mean "{close[0]}"'
                            f' ({".".join(parents + close)})?')
                    break
                node = node[part]
            else:
                break
            parents.append(part)
