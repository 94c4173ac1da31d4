# FAN-Swin classifier on ImageNet-1K, FAN paper recipe (300 epochs): the
# FAN base recipe with global average pooling of the last stage (upstream's
# Swin classifier) and no weight decay on the relative position bias tables.
# Variant configs in configs/fan/ set the arch, drop-path rate and width.
_base_ = ['./fan_in1k_300e.py']

model = dict(
    backbone=dict(_delete_=True, type='stl_mm.FANSwin', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'))

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        'relative_position_bias_table': dict(decay_mult=0.0)}))
