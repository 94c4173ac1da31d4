# FAN-Swin classifier for ImageNet-1K: the FAN classifier model (data
# preprocessor, label-smoothed linear head) with a stl_mm.FANSwin backbone,
# global average pooling of the last stage (upstream's Swin classifier).
# (No weight decay on the relative position bias tables:
# schedules/imagenet_adamw_310e_swin.py.) Drop-path follows
# upstream's Swin rule (linear from 0 over all blocks, inside FANSwin).
# Variant configs in configs/fan/ set the arch, drop-path rate and width.
_base_ = ['./fan.py']

model = dict(
    backbone=dict(_delete_=True, type='stl_mm.FANSwin', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'))

