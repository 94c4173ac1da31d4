"""Runner set-up that makes OpenMMLab configs run on machines without a GPU.

mmengine 0.10.7 assumes CUDA in two places that break CPU-only runs:
``_init_dist_pytorch`` calls ``torch.cuda.set_device`` unconditionally, and
the Runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``, which DDP
rejects for CPU modules. mmengine skips its own ``init_dist`` when a process
group already exists and lets ``model_wrapper_cfg`` override ``device_ids``,
so both are handled here through those documented hooks, without patching
mmengine. ``--amp`` on CPU selects :class:`AutocastOptimWrapper` (bfloat16)
because mmengine's ``AmpOptimWrapper`` asserts CUDA.
"""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def _cpu_only() -> bool:
    return not torch.cuda.is_available()


def init_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Start a gloo process group for a CPU-only distributed launch.

    Does nothing without a launcher, on GPU machines (mmengine's own
    ``init_dist`` handles those) or when a process group already exists.

    Args:
        cfg: the run's config; its ``env_cfg.dist_cfg`` and
            ``model_wrapper_cfg`` are adjusted in place for CPU DDP.
        launcher: ``'none'``, ``'pytorch'`` (torchrun), ``'slurm'`` or
            ``'mpi'``.
    """
    if launcher == 'none' or not _cpu_only() or torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        # Same environment translation as mmengine's slurm launcher.
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
    elif launcher != 'pytorch':
        raise ValueError(
            f'launcher "{launcher}" is not supported on a machine without a '
            'GPU; use tools/dist_train.sh (torchrun, launcher "pytorch").')
    for var in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if var not in os.environ:
            raise RuntimeError(
                f'--launcher {launcher} needs the environment variable {var}; '
                'start the job with tools/dist_train.sh (torchrun) or set '
                'it yourself.')
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    timeout = dist_cfg.get('timeout', 1800)
    import datetime
    torch_dist.init_process_group(
        backend='gloo', timeout=datetime.timedelta(seconds=timeout))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def enable_amp(cfg: Config) -> None:
    """Switch the config's optimizer wrapper to mixed precision.

    CUDA: mmengine's ``AmpOptimWrapper`` with dynamic loss scaling. CPU:
    :class:`AutocastOptimWrapper` with bfloat16 autocast.
    """
    optim_wrapper = cfg.optim_wrapper
    wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type in ('AmpOptimWrapper', 'stl_mm.AutocastOptimWrapper'):
        return
    if wrapper_type != 'OptimWrapper':
        raise ValueError(
            f'--amp only applies to OptimWrapper configs, but this config '
            f'uses "{wrapper_type}"; set the mixed-precision wrapper in the '
            'config instead.')
    if _cpu_only():
        optim_wrapper.type = 'stl_mm.AutocastOptimWrapper'
        optim_wrapper.dtype = 'bfloat16'
    else:
        optim_wrapper.type = 'AmpOptimWrapper'
        optim_wrapper.setdefault('loss_scale', 'dynamic')


def enable_compile(cfg: Config, backend: str = 'inductor') -> None:
    """Add :class:`stl_mm.engine.hooks.CompileHook` (``torch.compile`` of
    the model's ``extract_feat``) to the config's custom hooks, once."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') in ('CompileHook', 'stl_mm.CompileHook')
               for h in hooks):
        hooks.append(dict(type='stl_mm.CompileHook', backend=backend))
    cfg.custom_hooks = hooks


def _layout_error(message: str) -> ValueError:
    error = ValueError(message)
    error.user_facing = True  # one line from the tools (stl_mm.utils.cli)
    return error


def check_preprocessor_layout(cfg: Config) -> None:
    """Refuse a data preprocessor that would silently not normalise.

    mmengine's Runner uses the top-level ``data_preprocessor`` only when the
    model has none; the stl_mm configs keep theirs inside ``model``. So:

    - a top-level entry next to a different model-level one (e.g. from
      ``--cfg-options data_preprocessor.X=...``) would be ignored;
    - a preprocessor without ``mean``/``std`` (a partial dict created by
      ``--cfg-options model.data_preprocessor.X=...`` on a config that
      keeps its preprocessor at the top level, or none at all) would feed
      raw 0..255 pixels to the model.

    Both are refused with one line naming the key to use. (mmseg-style
    configs that define ``data_preprocessor`` and pass the same dict to the
    model are fine.)
    """
    top = cfg.get('data_preprocessor')
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    inner = model.get('data_preprocessor')
    if top is not None and inner is not None and dict(top) != dict(inner):
        keys = ', '.join(f'model.data_preprocessor.{k}' for k in dict(top)
                         ) or 'model.data_preprocessor.<key>'
        raise _layout_error(
            'This config keeps its data preprocessor in '
            'model.data_preprocessor; the top-level data_preprocessor would '
            f'be ignored. Use {keys} instead.')
    used, where = ((inner, 'model.data_preprocessor') if inner is not None
                   else (top, 'data_preprocessor'))
    if used is None:
        raise _layout_error(
            'The model has no data preprocessor, so images would reach it '
            'unnormalised; set model.data_preprocessor=dict(type=..., '
            'mean=[...], std=[...]) in the config.')
    missing = [k for k in ('mean', 'std') if dict(used).get(k) is None]
    if missing:
        raise _layout_error(
            f'{where} has no {"/".join(missing)} (a partial dict, e.g. from '
            '--cfg-options on a key the config does not define?), so images '
            'would reach the model unnormalised; give the full preprocessor '
            f'in the config or check the key (keys now: {sorted(dict(used))}).')


def init_distributed(cfg: Config, launcher: str) -> None:
    """Start the process group of a launch before any Runner is built.

    CPU-only machines: :func:`init_cpu_distributed` (gloo). GPU machines:
    mmengine's ``init_dist`` with the config's ``env_cfg.dist_cfg`` (a
    Runner built later finds the group and keeps it). Nothing without a
    launcher or when a group exists.
    """
    if launcher == 'none':
        return
    if _cpu_only():
        init_cpu_distributed(cfg, launcher)
        return
    from mmengine.dist import init_dist, is_distributed
    if not is_distributed():
        init_dist(launcher, **cfg.get('env_cfg', {}).get('dist_cfg', {}))
