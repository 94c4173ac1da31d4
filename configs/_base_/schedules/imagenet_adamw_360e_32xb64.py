# The STL recipe of FAN-B/L (4 nodes x 8 GPUs x 64 images): --lr 4e-3,
# --warmup-epochs 10, cosine to 1e-6 at epoch 350, cooldown 10 epochs.
_base_ = ['./imagenet_adamw_310e.py']

optim_wrapper = dict(optimizer=dict(lr=4e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-3, by_epoch=True, begin=0,
         end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=350, eta_min=1e-6, by_epoch=True,
         begin=0, end=351),
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=351, end=360),
]
train_cfg = dict(max_epochs=360)
auto_scale_lr = dict(base_batch_size=2048)
