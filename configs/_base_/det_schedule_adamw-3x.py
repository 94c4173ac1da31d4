# FAN/STL COCO schedule ("3x"): 36 epochs, lr x0.1 after epochs 27 and 33,
# 500 iterations of linear warm-up; AdamW lr 1e-4, weight decay 0.05, no
# weight decay on norms. Upstream trained in fp16: add --amp to
# tools/train.py (mmengine's AmpOptimWrapper on GPU).
max_epochs = 36
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    # every norm module (backbone LayerNorms/BatchNorms, the box heads'
    # BatchNorms); nothing else is exempt
    paramwise_cfg=dict(norm_decay_mult=0.),
    clip_grad=None)

# lr 1e-4 was set for 8 GPUs x 1 image; --auto-scale-lr rescales it
auto_scale_lr = dict(enable=False, base_batch_size=8)
