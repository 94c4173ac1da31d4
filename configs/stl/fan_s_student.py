# STL phase 2: train the student fan_small_12_p4_hybrid_token from scratch on ImageNet-1K
# with image labels plus token labels generated online by the frozen phase-1
# teacher (Gumbel-Softmax over its per-token logits, label smoothing 0.1).
#   tools/dist_train.sh configs/stl/fan_s_student.py 8 \
#       --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
# The teacher checkpoint may also be an upstream token-labeler .pth.tar.
_base_ = [
    './fan_s_token_labeler.py',
    '../_base_/datasets/imagenet_bs128_stl_224.py',
]

model = dict(
    type='stl_mm.STLClassifier',
    head=dict(mode='student'),
    teacher=dict(
        config='{{ fileDirname }}/fan_s_token_labeler.py',
        checkpoint='work_dirs/fan_s_token_labeler/epoch_350.pth',
        prefer_ema=True,
        # teacher forward: fp16 on GPUs, bf16 on CPUs with native bf16
        amp='auto'),
    token_label=dict(method='gumbel', tau=1.0, hard=True, smoothing=0.1),
)

data_preprocessor = {{_base_.stl_data_preprocessor}}
train_dataloader = dict(
    dataset=dict(pipeline={{_base_.stl_train_pipeline}}),
    batch_size=128)
