import pytest
import torch
from torch import nn

from spacetime.engine import collect_clip_scores, evaluate_classifier
from spacetime.errors import InputError


class LookupModel(nn.Module):
    """Returns the logits stored in pixel [0, 0, 0, 0] .. as a C-vector: x[:, :C, 0, 0, 0]."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return x[:, : self.c, 0, 0, 0]


def _clip(logits):
    x = torch.zeros(3, 2, 1, 1)
    x[: len(logits), 0, 0, 0] = torch.tensor(logits)
    return x


def test_multi_clip_video_accuracy_hand_computed():
    # 2 videos x 2 clips (N, K, C, T, H, W); 3 classes
    # video 0 (label 0): clip logits favour 0 then 1 strongly -> mean probs favour 1 -> wrong
    # video 1 (label 2): both clips favour 2 -> right
    v0 = torch.stack([_clip([1.0, 0.0, 0.0]), _clip([0.0, 5.0, 0.0])])
    v1 = torch.stack([_clip([0.0, 0.0, 2.0]), _clip([0.0, 1.0, 3.0])])
    batch = {"video": torch.stack([v0, v1]), "label": torch.tensor([0, 2])}
    res = evaluate_classifier(LookupModel(3), [batch], num_classes=3, ks=(1, 2))
    assert res["clip"]["num_samples"] == 4 and res["video"]["num_samples"] == 2
    assert res["clip"]["top1"] == pytest.approx(3 / 4)
    assert res["video"]["top1"] == pytest.approx(1 / 2)
    assert res["video"]["top2"] == pytest.approx(1.0)
    assert res["num_clips_per_video"] == 2
    assert torch.equal(res["video"]["confusion"], torch.tensor([[0, 1, 0], [0, 0, 0], [0, 0, 1]]))


def test_video_key_grouping_across_batches_and_tuple_batches():
    model = LookupModel(2)
    b1 = {"video": torch.stack([_clip([2.0, 0.0]), _clip([0.0, 1.0])]),
          "label": torch.tensor([0, 1]), "video_index": torch.tensor([5, 6])}
    b2 = {"video": torch.stack([_clip([0.0, 0.5])]), "label": torch.tensor([0]),
          "video_index": torch.tensor([5])}
    scores, targets, vids = collect_clip_scores(model, [b1, b2])
    assert scores.shape == (3, 2) and vids.tolist() == [5, 6, 5]
    res = evaluate_classifier(model, [b1, b2], num_classes=2)
    assert res["video"]["num_samples"] == 2 and res["video"]["top1"] == 1.0
    tup = [(torch.stack([_clip([1.0, 0.0]), _clip([1.0, 0.0])]), torch.tensor([0, 1]))]
    res = evaluate_classifier(model, tup, num_classes=2, ks=(1,))
    assert res["clip"]["top1"] == 0.5 and res["video"]["top1"] == 0.5


def test_evaluation_errors():
    with pytest.raises(InputError, match="empty loader"):
        evaluate_classifier(LookupModel(2), [], num_classes=2)
    with pytest.raises(InputError, match="expected keys 'video' and 'label'"):
        collect_clip_scores(LookupModel(2), [{"x": torch.zeros(1)}])
