# STL phase 2 on the embedded demo data: the student learns from image
# labels and from the token labels of the frozen phase-1 teacher.
#   --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
_base_ = [
    './fan_demo_token_labeler.py',
    '../../_base_/datasets/demo_cls_64px_stl.py',
]

model = dict(
    type='stl_mm.STLClassifier',
    head=dict(mode='student'),
    teacher=dict(
        config='{{ fileDirname }}/fan_demo_token_labeler.py',
        checkpoint='work_dirs/fan_demo_token_labeler/epoch_8.pth',
        prefer_ema=True),
    token_label=dict(method='gumbel', tau=1.0, hard=True, smoothing=0.1),
)

data_preprocessor = {{_base_.stl_data_preprocessor}}
train_dataloader = dict(dataset=dict(pipeline={{_base_.stl_train_pipeline}}))
