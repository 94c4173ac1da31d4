# AdamW + cosine schedule of the FAN/STL ImageNet recipes (lr 2e-3 for a total
# batch of 1024, 5 warm-up epochs from 1e-6, cosine to 1e-6). No weight decay
# on norms, biases, the class token, layer-scale gammas and FAN temperatures.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=2e-3, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'cls_token': dict(decay_mult=0.0),
            'gamma': dict(decay_mult=0.0),
            'temperature': dict(decay_mult=0.0),
        }),
    clip_grad=None,
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 2e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=295,
        eta_min=1e-6,
        by_epoch=True,
        begin=5,
        end=300),
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# lr 2e-3 was tuned for 8 GPUs x 128 images; --auto-scale-lr rescales it.
auto_scale_lr = dict(base_batch_size=1024)
