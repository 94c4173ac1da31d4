# STL phase 2 of the demo (tools/demo.sh): the student learns from image
# labels and from the token labels that the frozen phase-1 teacher
# (./fan_demo128_token_labeler.py, its EMA weights) gives every crop online
# (hard Gumbel-Softmax per token). Recipe as ./fan_demo_student.py; network
# and 128 px data as the labeler.
#   --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
_base_ = [
    './fan_demo_student.py',
    '../../_base_/datasets/demo_cls_128px.py',
]

model = dict(
    backbone=dict(arch={{_base_.fan_demo128_arch}}),
    head=dict(in_channels=64),
    teacher=dict(
        config='{{ fileDirname }}/fan_demo128_token_labeler.py',
        checkpoint='work_dirs/demo/token_labeler/epoch_15.pth'))
optim_wrapper = dict(optimizer=dict(lr=1e-3))

train_dataloader = dict(dataset=dict(
    data_root={{_base_.demo128_data_root}},
    pipeline={{_base_.demo128_stl_train_pipeline}},
    metainfo=dict(classes={{_base_.demo128_classes}})))
val_dataloader = {{_base_.demo128_val_dataloader}}
test_dataloader = val_dataloader
train_cfg = {{_base_.demo128_train_cfg}}
param_scheduler = {{_base_.demo128_param_scheduler}}
default_hooks = dict(checkpoint={{_base_.demo128_checkpoint}})
