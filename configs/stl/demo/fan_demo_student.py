# STL phase 2 on the embedded demo data: the student learns from image
# labels and from the token labels of the frozen phase-1 teacher.
#   --cfg-options model.teacher.checkpoint=<phase-1 checkpoint>
_base_ = [
    './fan_demo_token_labeler.py',
    '../../_base_/datasets/demo_cls_64px_stl.py',
]

model = dict(
    type='stl_mm.STLClassifier',
    # mixing is off in the demo (prob 0.); mix_token_labels=True mixes the
    # token labels alike when it is switched on (prob 0.5, as ImageNet)
    data_preprocessor=dict(
        _delete_=True,
        type='stl_mm.STLDataPreprocessor',
        num_classes={{_base_.num_classes}},
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        mix=dict(
            type='stl_mm.TokenMix',
            mixup_alpha=0.8,
            cutmix_alpha=1.0,
            switch_prob=0.5,
            prob=0.,
            mix_token_labels=True)),
    # the labeler's weights (1, 3): the token labels are the fast signal in
    # this short run (the reference uses 1, 1 on ImageNet)
    head=dict(mode='student', cls_weight=1.0, dense_weight=3.0),
    teacher=dict(
        config='{{ fileDirname }}/fan_demo_token_labeler.py',
        checkpoint='work_dirs/demo/token_labeler/epoch_12.pth',
        prefer_ema=True),
    token_label=dict(method='gumbel', tau=1.0, hard=True, smoothing=0.1),
)

train_dataloader = dict(dataset=dict(pipeline={{_base_.stl_train_pipeline}}))
