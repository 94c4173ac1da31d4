# STL phase 2: the student fan_tiny_8_p4_hybrid_token, trained from scratch on
# ImageNet-1K with image labels plus the token labels of the frozen phase-1
# teacher (stl-labeler_fan-tiny-8-p4-hybrid-token_8xb128-360e_in1k.py).
#   tools/dist_train.sh configs/stl/fan_t_student.py 8
# The teacher is the labeler's best EMA checkpoint by default (a glob with
# exactly one match); any phase-1 file, upstream .pth.tar included, with
#   --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
_base_ = [
    '../_base_/models/stl_student.py',
    '../_base_/datasets/imagenet_bs128_stl_224.py',
    '../_base_/schedules/imagenet_adamw_360e.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_tiny_8_p4_hybrid_token', drop_path_rate=0.05),
    head=dict(in_channels=192),
    teacher=dict(
        config='{{ fileDirname }}/'
        'stl-labeler_fan-tiny-8-p4-hybrid-token_8xb128-360e_in1k.py',
        checkpoint='work_dirs/fan_t_token_labeler/'
        'best_accuracy_top1_epoch_*.pth'),
)
