# STL phase 1: the token labeler fan_small_12_p4_hybrid_token on ImageNet-1K,
# trained with image labels only (class term + mean-over-tokens term).
#   tools/dist_train.sh configs/stl/fan_s_token_labeler.py 8
# Its best EMA checkpoint (work_dirs/fan_s_token_labeler/
# best_accuracy_top1_epoch_<N>.pth) is the teacher of stl_fan-small-12-p4-hybrid-token_8xb128-360e_in1k.py.
_base_ = [
    '../_base_/models/stl_labeler.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_360e.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_small_12_p4_hybrid_token', drop_path_rate=0.25),
    head=dict(in_channels=384),
)
