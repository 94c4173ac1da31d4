# STL phase 2: the student fan_large_16_p4_hybrid_token, trained from scratch on
# ImageNet-1K with image labels plus the token labels of the frozen phase-1
# teacher (stl-labeler_fan-large-16-p4-hybrid-token_32xb64-360e_in1k.py).
#   tools/dist_train.sh configs/stl/fan_l_student.py 8  # on each of 4 nodes, see README
# The teacher is the labeler's best EMA checkpoint by default (a glob with
# exactly one match); any phase-1 file, upstream .pth.tar included, with
#   --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
_base_ = [
    '../_base_/models/stl_student.py',
    '../_base_/datasets/imagenet_bs128_stl_224.py',
    '../_base_/schedules/imagenet_adamw_360e_32xb64.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_large_16_p4_hybrid_token', drop_path_rate=0.45),
    head=dict(in_channels=480),
    teacher=dict(
        config='{{ fileDirname }}/'
        'stl-labeler_fan-large-16-p4-hybrid-token_32xb64-360e_in1k.py',
        checkpoint='work_dirs/fan_l_token_labeler/'
        'best_accuracy_top1_epoch_*.pth'),
)

train_dataloader = dict(batch_size=64)
