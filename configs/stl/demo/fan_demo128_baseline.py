# Baseline of the demo (tools/demo.sh): the STL student's network, data,
# augmentation and budget (./fan_demo128_student.py), trained on image
# labels alone (class token + linear head, no teacher, no token labels), as
# ./fan_demo_baseline.py is for the 64 px student.
_base_ = [
    './fan_demo_baseline.py',
    '../../_base_/datasets/demo_cls_128px.py',
]

model = dict(
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
train_cfg = {{_base_.demo128_train_cfg}}
param_scheduler = {{_base_.demo128_param_scheduler}}
default_hooks = dict(checkpoint={{_base_.demo128_checkpoint}})
