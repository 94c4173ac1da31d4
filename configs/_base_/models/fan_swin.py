# FAN-Swin classifier for ImageNet-1K: the FAN classifier model (data
# preprocessor, label-smoothed linear head) with a stl_mm.FANSwin backbone,
# global average pooling of the last stage (upstream's Swin classifier) and
# no weight decay on the relative position bias tables. Drop-path follows
# upstream's Swin rule (linear from 0 over all blocks, inside FANSwin).
# Variant configs in configs/fan/ set the arch, drop-path rate and width.
_base_ = ['./fan.py']

model = dict(
    backbone=dict(_delete_=True, type='stl_mm.FANSwin', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'))

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        'relative_position_bias_table': dict(decay_mult=0.0)}))
