# Runtime shared by the segmentation configs (mmseg scope). The
# classification runtime (default_runtime.py) is mmpretrain-scoped.
default_scope = 'mmseg'

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# LocalVisBackend only: tensorboard is not installed by default (add
# dict(type='TensorboardVisBackend') here when it is).
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)

tta_model = dict(type='SegTTAModel')
