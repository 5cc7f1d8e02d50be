import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spacetime.engine import (
    average_clip_probs,
    classification_metrics,
    confusion_matrix,
    mean_class_accuracy,
    topk_accuracy,
    topk_correct,
)
from spacetime.errors import InputError
from tests._matrix import assert_on, check_op, default_device_elsewhere


def _naive_topk(scores, targets, k):
    hits = 0
    for s, t in zip(scores.tolist(), targets.tolist()):
        order = sorted(range(len(s)), key=lambda j: -s[j])
        hits += t in order[:k]
    return hits


def test_topk_hand_computed():
    scores = torch.tensor(
        [
            [0.1, 0.5, 0.2, 0.0, 0.0, 0.0, 0.2],  # target 1 -> top1 hit
            [0.9, 0.05, 0.03, 0.02, 0.0, 0.0, 0.0],  # target 2 -> top3, not top1
            [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # target 0 -> rank 7, miss top5
            [0.3, 0.2, 0.1, 0.4, 0.0, 0.0, 0.0],  # target 2 -> rank 4, top5 hit
        ]
    )
    targets = torch.tensor([1, 2, 0, 2])
    assert topk_correct(scores, targets, (1, 5)) == {1: 1, 5: 3}
    acc = topk_accuracy(scores, targets, (1, 3, 5))
    assert acc == {1: 0.25, 3: 0.5, 5: 0.75}


def test_topk_matches_naive_random():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(50, 10, generator=g)
    targets = torch.randint(0, 10, (50,), generator=g)
    got = topk_correct(scores, targets, (1, 2, 5))
    for k in (1, 2, 5):
        assert got[k] == _naive_topk(scores, targets, k)


def test_topk_k_larger_than_classes_and_empty():
    scores = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    targets = torch.tensor([0, 0])
    assert topk_accuracy(scores, targets, (1, 5)) == {1: 0.5, 5: 1.0}
    empty = topk_accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    assert all(math.isnan(v) for v in empty.values())


def test_topk_bad_inputs():
    with pytest.raises(InputError, match=r"targets: expected shape \(N,\)"):
        topk_accuracy(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(InputError, match="targets: expected class indices in \\[0, 4\\)"):
        topk_accuracy(torch.zeros(2, 4), torch.tensor([0, 4]))
    with pytest.raises(InputError, match="targets: expected an integer dtype"):
        topk_accuracy(torch.zeros(2, 4), torch.zeros(2))
    with pytest.raises(InputError, match="k: expected an int >= 1"):
        topk_accuracy(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), (0,))


def test_confusion_matrix_and_mean_class_accuracy():
    preds = torch.tensor([0, 1, 1, 2, 2, 2, 0])
    targets = torch.tensor([0, 1, 0, 2, 2, 1, 0])
    cm = confusion_matrix(preds, targets, 4)
    expected = torch.tensor([[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]])
    assert torch.equal(cm, expected)
    # class 3 has no samples: left out. recalls 2/3, 1/2, 2/2
    assert mean_class_accuracy(cm) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert math.isnan(mean_class_accuracy(torch.zeros(3, 3, dtype=torch.long)))
    with pytest.raises(InputError, match=r"preds: expected class indices in \[0, 4\)"):
        confusion_matrix(torch.tensor([5]), torch.tensor([0]), 4)
    with pytest.raises(InputError, match="num_classes"):
        confusion_matrix(preds, targets, 0)
    with pytest.raises(InputError, match=r"cm: expected shape \(C, C\)"):
        mean_class_accuracy(torch.zeros(2, 3))


def test_average_clip_probs_hand_computed():
    # video 7: two clips; clip probs (0.9, 0.1) and (0.3, 0.7) -> mean (0.6, 0.4) -> class 0
    # video 3: one clip (0.2, 0.8) -> class 1
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    ids = torch.tensor([7, 3, 7])
    targets = torch.tensor([1, 1, 1])
    mean, vids, vt = average_clip_probs(probs, ids, targets, logits=False)
    assert vids.tolist() == [3, 7]
    assert torch.allclose(mean, torch.tensor([[0.2, 0.8], [0.6, 0.4]]))
    assert vt.tolist() == [1, 1]
    # clip accuracy 2/3, but video accuracy 1/2: averaging changes the answer for video 7
    assert topk_accuracy(probs, targets, (1,))[1] == pytest.approx(2 / 3)
    assert topk_accuracy(mean, vt, (1,))[1] == pytest.approx(0.5)


def test_average_clip_probs_logits_and_errors():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    mean, vids, vt = average_clip_probs(logits, torch.tensor([0, 0]))
    assert vt is None and torch.allclose(mean, torch.tensor([[0.5, 0.5]]))
    with pytest.raises(InputError, match="different targets"):
        average_clip_probs(logits, torch.tensor([0, 0]), torch.tensor([0, 1]))
    with pytest.raises(InputError, match=r"video_ids: expected shape \(M,\)"):
        average_clip_probs(logits, torch.tensor([0, 0, 1]))


def test_classification_metrics():
    scores = torch.tensor([[3.0, 1.0, 0.0], [0.0, 1.0, 3.0], [0.0, 2.0, 1.0]])
    targets = torch.tensor([0, 1, 1])
    m = classification_metrics(scores, targets, 3, ks=(1, 5))
    assert m["top1"] == pytest.approx(2 / 3) and m["top5"] == 1.0
    assert m["num_samples"] == 3
    assert torch.equal(m["confusion"], torch.tensor([[1, 0, 0], [0, 1, 1], [0, 0, 0]]))
    assert m["mean_class_acc"] == pytest.approx((1 + 0.5) / 2)
    with pytest.raises(InputError, match="expected 4 classes, got 3"):
        classification_metrics(scores, targets, 4)


@given(n=st.integers(0, 20), c=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_metric_properties(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, c, generator=g)
    targets = torch.randint(0, c, (n,), generator=g)
    correct = topk_correct(scores, targets, (1, 2, 3, 5))
    assert correct[1] <= correct[2] <= correct[3] <= correct[5] <= n
    m = classification_metrics(scores, targets, c, ks=(1,))
    cm = m["confusion"]
    assert int(cm.sum()) == n and torch.equal(cm.sum(dim=1), torch.bincount(targets, minlength=c))
    assert int(cm.diagonal().sum()) == correct[1]
    if n:
        assert 0.0 <= m["mean_class_acc"] <= 1.0
        # one clip per video: video-level averaging changes nothing
        probs, ids, vt = average_clip_probs(scores, torch.arange(n), targets)
        assert torch.allclose(probs, scores.softmax(dim=1)) and torch.equal(vt, targets)


def test_device_dtype(device, dtype):
    """Scores on ``device`` in ``dtype``: counts, confusion matrices and averaged probabilities
    stay on that device and equal the float64 CPU results."""
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(12, 5, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 5, (12,), generator=g)
    ids = torch.randint(0, 4, (12,), generator=g)
    check_op(lambda s, t: topk_correct(s, t, (1, 3)), (scores, targets), device, dtype,
             grad=False)
    check_op(lambda p, t: confusion_matrix(p, t, 5), (scores.argmax(1), targets), device, dtype,
             grad=False)
    check_op(lambda s, i: average_clip_probs(s, i)[:2], (scores, ids), device, dtype,
             grad=False)
    with default_device_elsewhere():
        m = classification_metrics(scores.to(device, dtype), targets.to(device), 5, ks=(1, 3))
    ref = classification_metrics(scores, targets, 5, ks=(1, 3))
    assert m["top1"] == ref["top1"] and m["mean_class_acc"] == ref["mean_class_acc"]
    assert_on(m["confusion"], device)
