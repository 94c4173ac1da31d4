# The FAN ImageNet schedule (imagenet_adamw_310e.py) for FAN-Swin: also no
# weight decay on the relative position bias tables (upstream's Swin rule).
_base_ = ['./imagenet_adamw_310e.py']

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        'relative_position_bias_table': dict(decay_mult=0.0)}))
