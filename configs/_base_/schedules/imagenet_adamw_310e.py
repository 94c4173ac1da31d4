# AdamW + cosine schedule of the FAN ImageNet recipe (NVlabs/FAN main.py,
# timm 0.5): lr 2e-3 for a total batch of 1024, 5 warm-up epochs from 1e-6,
# cosine to 1e-6 at epoch 300, then timm's default --cooldown-epochs 10 at
# 1e-6: 310 epochs in all. No weight decay on norms, biases, the class
# token, layer-scale gammas and FAN temperatures (timm's rule: no decay for
# 1-d parameters).
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
    # warm-up from --warmup-lr 1e-6 (start_factor = 1e-6 / lr); it scales
    # the cosine below, which runs from epoch 0 as timm's does (timm's
    # warm-up overrides the first epochs of the same cosine): from epoch 5
    # on, the lr is timm's
    dict(type='LinearLR', start_factor=1e-6 / 2e-3, by_epoch=True, begin=0,
         end=5, convert_to_iter_based=True),
    # cosine to --min-lr at --epochs 300: its last step (epoch 300 = step
    # T_max) is exactly eta_min
    dict(type='CosineAnnealingLR', T_max=300, eta_min=1e-6, by_epoch=True,
         begin=0, end=301),
    # cooldown: the lr stays at min_lr (factor 1 keeps the value reached)
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=301, end=310),
]

train_cfg = dict(by_epoch=True, max_epochs=310, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# lr 2e-3 was tuned for 8 GPUs x 128 images; --auto-scale-lr rescales it.
auto_scale_lr = dict(base_batch_size=1024)
