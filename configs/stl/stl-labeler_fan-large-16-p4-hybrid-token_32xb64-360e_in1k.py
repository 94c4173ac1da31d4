# STL phase 1: the token labeler fan_large_16_p4_hybrid_token on ImageNet-1K,
# trained with image labels only (class term + mean-over-tokens term).
#   tools/dist_train.sh configs/stl/fan_l_token_labeler.py 8  # on each of 4 nodes, see README
# Its best EMA checkpoint (work_dirs/fan_l_token_labeler/
# best_accuracy_top1_epoch_<N>.pth) is the teacher of stl_fan-large-16-p4-hybrid-token_32xb64-360e_in1k.py.
_base_ = [
    '../_base_/models/stl_labeler.py',
    '../_base_/datasets/imagenet_bs128_fan_224.py',
    '../_base_/schedules/imagenet_adamw_360e_32xb64.py',
    '../_base_/imagenet_ema_runtime.py',
]

model = dict(
    backbone=dict(arch='fan_large_16_p4_hybrid_token', drop_path_rate=0.45),
    head=dict(in_channels=480),
)

train_dataloader = dict(batch_size=64)
