# STL phase 1 on the embedded 64 px shape set (tools/make_demo_data.py): a
# small FAN-Hybrid token labeler trained with image labels only (a 4x4 token
# grid; the base of the tests' token models and of the LV-ViT demo configs).
# tools/demo.sh trains its 128 px variant, ./fan_demo128_token_labeler.py.
#
# Demo recipe (CPU, minutes; see docs/demo.md): about a thousand iterations
# of batch 16 (a few hundred images per class) with AdamW
# at lr 3e-4 after a one-epoch warm-up (higher rates stall this small FAN),
# gradient clipping, crop + flip only, no drop-path, and an EMA whose time
# constant (1 / momentum = 100 iterations) suits such a short run; the EMA
# weights are validated and serve as the STL teacher. The token term gets
# weight 3: with weight 1 the class-token head learns first and the
# per-token head (the token labels) stays near chance within this budget.
_base_ = [
    '../../_base_/datasets/demo_cls_64px.py',
    '../../_base_/schedules/demo_adamw_stl.py',
    '../../_base_/default_runtime.py',
]

fan_demo_arch = dict(
    embed_dims=64, depth=4, num_heads=4, stem='hybrid', hybrid_depths=[1, 1],
    dense_index=3)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes={{_base_.num_classes}},
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='stl_mm.FAN',
        arch=fan_demo_arch,
        drop_path_rate=0.,
        out_type='cls_and_patch'),
    head=dict(
        type='stl_mm.TokenLabelHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        mode='labeler',
        cls_weight=1.0,
        dense_weight=3.0,
        label_smooth=0.1),
)

# Class names of the demo set (tools/make_demo_data.py, 4 classes): saved in
# the checkpoints' meta, so that tools show names instead of numbers. The
# small demo sets load fastest in the main process.
demo_classes = ['class_00_disc', 'class_01_square', 'class_02_triangle',
                'class_03_cross']
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(metainfo=dict(classes=demo_classes)))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(metainfo=dict(classes=demo_classes)))
test_dataloader = val_dataloader

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type="CheckpointHook", interval=4, max_keep_ckpts=1))
custom_hooks = [dict(type='EMAHook', momentum=1e-2, priority=49)]
randomness = dict(seed=0)
