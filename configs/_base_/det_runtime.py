# Runtime shared by the detection configs (mmdet scope). The
# classification runtime (default_runtime.py) is mmpretrain-scoped.
default_scope = 'mmdet'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# LocalVisBackend only: tensorboard is not installed by default (add
# dict(type='TensorboardVisBackend') here when it is).
# Logging backends. LocalVisBackend writes scalars.json (and images) under
# the run's work dir. Switch or add backends per run:
#   TensorBoard (pip install "stl_mm[tensorboard]"; then tensorboard --logdir WORK_DIR):
#     --cfg-options visualizer.vis_backends.0.type=TensorboardVisBackend
#   Weights & Biases (pip install "stl_mm[wandb]"; WANDB_MODE=offline runs
#   without an account), in a config that inherits this one:
#     visualizer = dict(vis_backends=[
#         dict(type='LocalVisBackend'),
#         dict(type='WandbVisBackend', init_kwargs=dict(project='stl_mm'))])
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
