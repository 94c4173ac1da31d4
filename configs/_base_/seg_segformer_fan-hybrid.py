# SegFormer all-MLP decoder on the dense FAN-Hybrid backbone (four maps:
# 128 ch @ s4, 256 ch @ s8, D @ s16 (a FAN block), D @ s16 (patch tokens
# after the class-attention blocks)). The variant configs set the arch, the
# decoder in_channels [128, 256, D, D] and the checkpoint.
norm_cfg = dict(type='SyncBN', requires_grad=True)
# Runner-level conversion of the remaining BatchNorms (the backbone's) to
# SyncBatchNorm in distributed runs (1 image per GPU).
sync_bn = 'torch'
# The final norm and the class-token path of the class-attention blocks do
# not feed the dense outputs: DDP must allow unused parameters.
find_unused_parameters = True

# the data preprocessor lives inside the model only: mmengine ignores a
# top-level one when the model has its own
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(1024, 1024)),
    # mmseg hands a segmentor-level `pretrained` to the backbone, which
    # stl_mm.FAN does not take: initialise through backbone.init_cfg.
    pretrained=None,
    backbone=dict(
        type='stl_mm.FAN',
        arch='fan_tiny_8_p4_hybrid',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.),
    decode_head=dict(
        type='SegformerHead',
        in_channels=[128, 256, 192, 192],
        in_index=[0, 1, 2, 3],
        channels=768,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(1024, 1024), stride=(768, 768)))
