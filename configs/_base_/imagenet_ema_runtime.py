# Runtime of the ImageNet recipes: the default runtime plus the weight EMA
# of timm (--model-ema --model-ema-decay 0.99992: momentum 1 - 0.99992,
# buffers averaged too). mmengine's EMAHook validates the EMA weights, and
# the checkpoint hook keeps the best of them as
# best_accuracy_top1_epoch_<N>.pth (upstream: model_best.pth.tar, best EMA
# top-1), the default STL teacher.
_base_ = ['./default_runtime.py']

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3,
        save_best='accuracy/top1', rule='greater'))
custom_hooks = [
    dict(type='EMAHook', momentum=8e-5, update_buffers=True, priority=49),
]
