# AdamW + cosine schedule of the STL ImageNet recipes (token labeler and
# student; NVlabs/STL scripts, 8 GPUs x 128): --lr 2e-3, --warmup-lr 1e-6
# over --warmup-epochs 5, cosine to --min-lr 1e-6 at --epochs 350, then
# timm's default --cooldown-epochs 10 at 1e-6: 360 epochs in all.
_base_ = ['./imagenet_adamw_310e.py']

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 2e-3, by_epoch=True, begin=0,
         end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=350, eta_min=1e-6, by_epoch=True,
         begin=0, end=351),
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=351, end=360),
]
train_cfg = dict(max_epochs=360)
