# STL student (phase 2): trained from scratch on image labels plus token
# labels generated online by the frozen phase-1 teacher (hard
# Gumbel-Softmax over its token logits, smoothing 0.1). The preprocessor
# mixes the student view and hands the mix record to the loss, which mixes
# the token labels alike (mix_token_labels=True, CutMix boxes on the token
# grid). `model.data_preprocessor.mix.mix_token_labels=False` reproduces
# the reference code exactly: timm's pixel boxes, token labels unmixed.
# Variant configs set arch, drop-path, width and the teacher.
_base_ = ['./stl_labeler.py']

model = dict(
    type='stl_mm.STLClassifier',
    data_preprocessor=dict(mix=dict(mix_token_labels=True)),
    head=dict(mode='student'),
    teacher=dict(
        prefer_ema=True,
        # teacher forward: fp16 on GPUs, bf16 on CPUs with native bf16
        amp='auto'),
    token_label=dict(method='gumbel', tau=1.0, hard=True, smoothing=0.1),
)
