"""Training-mode parity with the upstream model and loss.

Reference: ../shared/fixtures/official/train_fan_tiny_8_p4_hybrid_token_seed50
(.json + .npz): the NVlabs/STL ``fan_tiny_8_p4_hybrid_token`` built with
drop-path 0, in train mode (BatchNorm on batch statistics), the official
``TokenLabelCrossEntropy(cls_weight=1, dense_weight=1)`` on soft targets,
and the gradients of some parameters. Our model loads the same
upstream-format weights through the project's conversion path.
"""
import json

import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from stl_mm.models.utils import classifier_to_upstream, upstream_to_classifier
from stl_mm.registry import MODELS
from stl_mm.testing import FIXTURES, synth_state_dict
from stl_mm.utils import register_all_modules

NAME = 'train_fan_tiny_8_p4_hybrid_token_seed50'


def _rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


@pytest.mark.skipif(not (FIXTURES / f'{NAME}.json').is_file(),
                    reason=f'upstream fixtures not found at {FIXTURES}')
def test_train_mode_outputs_loss_and_gradients_match_upstream(parity_device):
    register_all_modules(init_default_scope=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        meta = json.loads((FIXTURES / f'{NAME}.json').read_text())
        ref = np.load(FIXTURES / meta['outputs'])
        keys = json.loads(
            (FIXTURES / f'{meta["variant"]}.json').read_text())['keys']
        model = MODELS.build(dict(
            type='mmpretrain.ImageClassifier',
            backbone=dict(type='stl_mm.FAN', arch=meta['variant'],
                          out_type='cls_and_patch',
                          drop_path_rate=meta['drop_path_rate']),
            head=dict(type='stl_mm.TokenLabelHead', num_classes=1000,
                      in_channels=192, mode='student', label_smooth=0.,
                      cls_weight=meta['cls_weight'],
                      dense_weight=meta['dense_weight'])))
        model.load_state_dict(
            upstream_to_classifier(synth_state_dict(keys, meta['seed'])), strict=True)
        model.train().to(parity_device)

        x = torch.from_numpy(ref['x']).to(parity_device)
        samples = [DataSample().set_gt_score(
            torch.from_numpy(t).to(parity_device))
                   for t in ref['cls_target']]
        feats = model.extract_feat(x)
        cls_logits, token_logits = model.head(feats)
        out_err = {
            'cls': float((cls_logits.cpu() - torch.from_numpy(ref['cls'])
                          ).abs().max()),
            'aux': float((token_logits.cpu() - torch.from_numpy(ref['aux'])
                          ).abs().max()),
        }
        losses = model.head.loss(
            feats, samples,
            token_targets=torch.from_numpy(ref['token_target']).to(
                parity_device))
        loss = losses['loss_cls'] + losses['loss_dense']
        loss.backward()
        grads = classifier_to_upstream(
            {k: p.grad.cpu() for k, p in model.named_parameters()
             if p.grad is not None})
        grad_err = {name: _rel(grads[name[len('grad:'):]],
                               torch.from_numpy(ref[name]))
                    for name in meta['grad_keys']}
        loss_err = abs(float(loss) - meta['loss'])
        print(f'train-mode parity: max abs output diff {out_err}, loss '
              f'{float(loss):.6f} vs {meta["loss"]:.6f} (diff '
              f'{loss_err:.2e}), gradient relative diffs {grad_err}')
        assert max(out_err.values()) < 1e-4
        assert loss_err < 1e-4
        assert max(grad_err.values()) < 1e-3
    finally:
        torch.set_num_threads(threads)
