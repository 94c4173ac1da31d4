# LV-ViT-S + UperNet on ADE20K, 512x512, 160k iterations: the upstream
# segmentation recipe (zihangJiang/TokenLabeling seg/configs/lvvit): features
# of blocks 6, 9, 12 and 15, an auxiliary FCN head on the third, AdamW lr 6e-5
# (weight decay 0.01), 1500 linear warm-up iterations, poly decay, slide
# inference (stride 341). The four stride-16 maps become a stride 4/8/16/16
# pyramid through upstream's deconvolution "side layers" inside the backbone
# (the last one to 2048 channels), so the released UperNet checkpoints
# (upernet_lvvit_s.pth) load as they are (load_from=...). mmseg's own
# ViT + UperNet neck instead: backbone.side_layers=None, neck=dict(
# type='MultiLevelNeck', in_channels=[384] * 4, out_channels=384,
# scales=[4, 2, 1, 1]), decode_head.in_channels=[384] * 4. The backbone
# starts from the released 224px ImageNet weights, its position embedding
# resized to the 32x32 grid of 512px crops.
_base_ = ['../_base_/seg_runtime.py']

crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
seg_data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
embed_dims = 384
model = dict(
    type='EncoderDecoder',
    data_preprocessor=seg_data_preprocessor,
    backbone=dict(
        type='stl_mm.LVViT',
        arch='lvvit_s',
        img_size=crop_size,
        out_indices=(6, 9, 12, 15),
        side_layers=dict(out_channels=2048, norm_cfg=norm_cfg),
        drop_path_rate=0.1,
        pos_embed_loading='resize',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/zihangJiang/TokenLabeling/'
            'releases/download/1.0/lvvit_s-26M-224-83.3.pth.tar')),
    decode_head=dict(
        type='UPerHead',
        in_channels=[embed_dims] * 3 + [2048],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=256,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=embed_dims,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/training',
                         seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                   weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=1500,
         end=160000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000,
                 val_interval=8000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=8000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
