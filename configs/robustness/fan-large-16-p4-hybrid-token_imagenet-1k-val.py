# Evaluate a FAN-L-Hybrid token model (an STL student or token labeler,
# ours or an upstream .pth.tar) on imagenet-1k-val, with the protocol of the
# published numbers (NVlabs/STL validate_ood.py):
#   tools/test.py configs/robustness/fan-large-16-p4-hybrid-token_imagenet-1k-val.py CKPT \
#       --cfg-options test_dataloader.dataset.data_root=/path/to/imagenet-1k-val
# Any other classification config works the same way: take it and
# ./_base_/imagenet-1k-val.py as bases and copy the three assignments below.
_base_ = [
    '../stl/stl-labeler_fan-large-16-p4-hybrid-token_32xb64-360e_in1k.py',
    './_base_/imagenet-1k-val.py',
]

test_dataloader = {{_base_.robustness_test_dataloader}}
test_evaluator = {{_base_.robustness_test_evaluator}}
# head fusion: 'cls_plus_max' (class logits + 0.5 x max over the token
# logits, the validate_ood.py protocol of the paper's IN-1K/C/A/R numbers),
# 'cls' (class token only) or 'mean_tokens'
model = dict(head=dict(fusion='cls_plus_max'))
