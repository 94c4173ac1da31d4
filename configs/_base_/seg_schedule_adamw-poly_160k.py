# FAN/SegFormer Cityscapes schedule: AdamW (lr 6e-5, betas (0.9, 0.999),
# weight decay 0.01), decode head lr x10, no weight decay on norms; 1500
# iterations of linear warm-up from 1e-6 x lr, then poly decay (power 1) to 0
# at 160k iterations (1 image/GPU x 8 GPUs).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        # every LayerNorm/BatchNorm of the backbone (and any other norm
        # module outside the decode head)
        norm_decay_mult=0.,
        # mmengine applies only the longest matching custom key, so the
        # decode head's BatchNorms are listed with both settings
        custom_keys={
            'decode_head': dict(lr_mult=10.),
            'decode_head.convs.0.bn': dict(lr_mult=10., decay_mult=0.),
            'decode_head.convs.1.bn': dict(lr_mult=10., decay_mult=0.),
            'decode_head.convs.2.bn': dict(lr_mult=10., decay_mult=0.),
            'decode_head.convs.3.bn': dict(lr_mult=10., decay_mult=0.),
            'decode_head.fusion_conv.bn': dict(lr_mult=10., decay_mult=0.),
        }),
    clip_grad=None)

param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1500),
    dict(
        type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=1500,
        end=160000),
]

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=16000,
        max_keep_ckpts=3, save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
