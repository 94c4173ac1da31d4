# The FAN Cascade Mask R-CNN recipe shrunk to run on a CPU in about a
# minute: a tiny custom FAN-Hybrid from scratch on the generated demo set
# (tools/make_demo_data.py data/demo --tasks det; 128x256 scenes, 4 shape
# categories, COCO format), 5 epochs x 8 iterations. Narrow FPN/heads and
# small RPN/RoI samples keep it fast. Override the set with --cfg-options
# {train,val,test}_dataloader.dataset.data_root=ROOT/ and
# {val,test}_evaluator.ann_file=ROOT/annotations/instances_val2017.json
_base_ = ['./cascade-mask-rcnn_fan-tiny-8-p4-hybrid_fpn_8xb1-3x_coco.py']

data_root = 'data/demo/coco/'
classes = ('disc', 'square', 'triangle', 'cross')
num_classes = 4
width = 64
fan_demo_arch = dict(
    embed_dims=32, depth=2, num_heads=2, stem='hybrid', hybrid_depths=[1, 1],
    dense_index=1)

# plain BatchNorm: no SyncBN conversion (CPU, one process)
norm_cfg = dict(type='BN', requires_grad=True)
sync_bn = None

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, **fan_demo_arch),
        drop_path_rate=0.1,
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[128, 256, 32, 768], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=[
            dict(
                type='Shared4Conv1FCBBoxHead',
                in_channels=width,
                conv_out_channels=width,
                fc_out_channels=256,
                roi_feat_size=7,
                num_classes=num_classes,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=stds),
                reg_class_agnostic=False,
                reg_decoded_bbox=True,
                norm_cfg=norm_cfg,
                loss_cls=dict(
                    type='CrossEntropyLoss', use_sigmoid=False,
                    loss_weight=1.0),
                loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ],
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(
            in_channels=width, conv_out_channels=width,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=[
            dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=iou,
                    neg_iou_thr=iou,
                    min_pos_iou=iou,
                    match_low_quality=False,
                    ignore_iof_thr=-1),
                sampler=dict(
                    type='RandomSampler',
                    num=64,
                    pos_fraction=0.25,
                    neg_pos_ub=-1,
                    add_gt_as_proposals=True),
                mask_size=28,
                pos_weight=-1,
                debug=False) for iou in (0.5, 0.6, 0.7)
        ]),
    # a 40-iteration model scores low: keep its detections for the AP
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(score_thr=0.001)))

# the DETR-style recipe at demo scale (scene short side 128): short side
# 96-160 (max 333), or 80-120 -> crop (77-120) -> 96-160
ms_scales = [(333, 96), (333, 112), (333, 128), (333, 144), (333, 160)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=ms_scales,
                  keep_ratio=True)],
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(333, 80), (333, 100), (333, 120)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(77, 120),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize', scales=ms_scales,
                    keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# from scratch in 40 iterations: a larger learning rate, short warm-up
max_epochs = 5
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=5),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[4],
        gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
log_processor = dict(window_size=4)
auto_scale_lr = dict(base_batch_size=2)
randomness = dict(seed=0)
