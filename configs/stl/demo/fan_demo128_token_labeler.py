# STL phase 1 of the demo (tools/demo.sh): a small FAN token labeler trained
# with image labels only, on the demo's 128x128 texture-class set (an 8x8
# token grid; ../../_base_/datasets/demo_cls_128px.py). The recipe is that of
# the 64 px labeler (./fan_demo_token_labeler.py, whose notes apply) plus
# CutMix: with whole images only, every token learned to give the image
# class (background tokens as confidently as object tokens); with pasted
# boxes of another image the token labels must follow the object
# (docs/demo.md).
_base_ = [
    './fan_demo_token_labeler.py',
    '../../_base_/datasets/demo_cls_128px.py',
]

model = dict(
    data_preprocessor=dict(
        batch_augments=dict(augments=[dict(type='CutMix', alpha=1.0)])),
    backbone=dict(arch={{_base_.fan_demo128_arch}}),
    head=dict(in_channels=64),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))

train_dataloader = dict(dataset=dict(
    data_root={{_base_.demo128_data_root}},
    pipeline={{_base_.demo128_train_pipeline}},
    metainfo=dict(classes={{_base_.demo128_classes}})))
val_dataloader = {{_base_.demo128_val_dataloader}}
test_dataloader = val_dataloader
train_cfg = {{_base_.demo128_labeler_train_cfg}}
param_scheduler = {{_base_.demo128_labeler_param_scheduler}}
default_hooks = dict(checkpoint={{_base_.demo128_labeler_checkpoint}})
