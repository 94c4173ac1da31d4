# STL token labeler recipe for base/large: 4 nodes x 8 GPUs x 64 images,
# lr 4e-3, 10 warm-up epochs, 350 epochs.
_base_ = ['./stl_token_labeler_in1k_350e.py']

optim_wrapper = dict(optimizer=dict(lr=4e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-3, by_epoch=True, begin=0,
         end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=340, eta_min=1e-6, by_epoch=True,
         begin=10, end=350),
]
train_dataloader = dict(batch_size=64)
auto_scale_lr = dict(base_batch_size=2048)
