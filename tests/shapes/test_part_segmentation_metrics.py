"""Part-segmentation metrics vs the PointNet reference loop and hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.metrics import part_segmentation_metrics, shape_part_ious

SEG = {"a": (0, 1, 2), "b": (3, 4)}


def _reference(pred, target, cats, seg):
    """PointNet's part_seg/test.py loop, transcribed."""
    shape_ious = {c: [] for c in seg}
    correct = seen = 0
    for p, t, c in zip(pred, target, cats):
        p, t = np.asarray(p), np.asarray(t)
        correct += int((p == t).sum())
        seen += len(t)
        ious = []
        for lab in seg[c]:
            if (t == lab).sum() == 0 and (p == lab).sum() == 0:
                ious.append(1.0)
            else:
                inter, union = ((t == lab) & (p == lab)).sum(), ((t == lab) | (p == lab)).sum()
                ious.append(inter / float(union))
        shape_ious[c].append(np.mean(ious))
    all_ious = [v for c in shape_ious for v in shape_ious[c]]
    cls = [np.mean(v) for v in shape_ious.values() if v]
    return correct / seen, np.mean(all_ious), np.mean(cls)


def test_hand_computed():
    t = torch.tensor([[0, 0, 1, 1], [3, 3, 3, 4]])
    p = torch.tensor([[0, 1, 1, 1], [3, 3, 4, 4]])
    ious = shape_part_ious(p, t, [SEG["a"], SEG["b"]])
    # shape 0: part0 1/2, part1 2/3, part2 absent from both -> 1
    torch.testing.assert_close(ious[0], torch.tensor([0.5, 2 / 3, 1.0], dtype=torch.float64))
    # shape 1: part3 2/3, part4 1/2
    torch.testing.assert_close(ious[1], torch.tensor([2 / 3, 0.5], dtype=torch.float64))
    m = part_segmentation_metrics(p, t, ["a", "b"], SEG)
    assert m["accuracy"] == 6 / 8
    s0, s1 = (0.5 + 2 / 3 + 1) / 3, (2 / 3 + 0.5) / 2
    assert m["instance_mIoU"] == pytest.approx((s0 + s1) / 2)
    assert m["class_mIoU"] == pytest.approx((s0 + s1) / 2)
    assert m["part_iou"]["a"] == pytest.approx([0.5, 2 / 3, 1.0])


def test_class_vs_instance_mean_differ():
    t = torch.tensor([[0, 0], [0, 0], [3, 3]])
    p = torch.tensor([[0, 0], [0, 0], [4, 4]])
    m = part_segmentation_metrics(p, t, ["a", "a", "b"], SEG)
    # a-shapes: parts (1, 1, 1) -> 1; b-shape: part3 0, part4 0 -> 0
    assert m["instance_mIoU"] == pytest.approx(2 / 3)
    assert m["class_mIoU"] == pytest.approx(0.5)
    assert m["per_category"] == {"a": 1.0, "b": 0.0}


def test_prediction_outside_the_category_counts_wrong():
    t = torch.tensor([[0, 0, 1, 1]])
    p = torch.tensor([[0, 3, 1, 9]])  # 3 and 9 are not parts of "a"
    iou = shape_part_ious(p, t, [SEG["a"]])[0]
    torch.testing.assert_close(iou, torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("seed", range(5))
def test_against_reference_random_ragged(seed):
    g = np.random.default_rng(seed)
    cats = [str(g.choice(["a", "b"])) for _ in range(12)]
    preds, targets = [], []
    for c in cats:
        n = int(g.integers(0, 40))
        targets.append(torch.as_tensor(g.choice(SEG[c], n)))
        # predictions: mostly the category's parts, sometimes another one
        preds.append(torch.as_tensor(g.integers(0, 5, n)))
    if sum(len(t) for t in targets) == 0:
        return
    m = part_segmentation_metrics(preds, targets, cats, SEG)
    acc, inst, cls = _reference([p.numpy() for p in preds], [t.numpy() for t in targets],
                                cats, SEG)
    assert m["accuracy"] == pytest.approx(acc)
    assert m["instance_mIoU"] == pytest.approx(inst)
    assert m["class_mIoU"] == pytest.approx(cls)


def test_edge_cases():
    # one shape, one point, perfect
    m = part_segmentation_metrics(torch.tensor([[4]]), torch.tensor([[4]]), ["b"], SEG)
    assert m["accuracy"] == 1.0 and m["instance_mIoU"] == 1.0
    # a shape with no points: every part absent from both -> mIoU 1, no accuracy
    m = part_segmentation_metrics([torch.zeros(0, dtype=torch.int64)],
                                  [torch.zeros(0, dtype=torch.int64)], ["a"], SEG)
    assert m["instance_mIoU"] == 1.0 and math.isnan(m["accuracy"])
    # no shapes at all
    m = part_segmentation_metrics([], [], [], SEG)
    assert math.isnan(m["instance_mIoU"]) and math.isnan(m["class_mIoU"])
    assert shape_part_ious([], [], []) == []


def test_errors():
    t = torch.tensor([[0, 1]])
    with pytest.raises(InputError, match="target"):
        shape_part_ious(t, torch.tensor([[0, 1, 1]]), [SEG["a"]])
    with pytest.raises(InputError, match="not a part"):
        shape_part_ious(t, torch.tensor([[0, 3]]), [SEG["a"]])
    with pytest.raises(InputError, match="at least one part"):
        shape_part_ious(t, t, [()])
    with pytest.raises(InputError, match=">= 0"):
        shape_part_ious(torch.tensor([[-1, 0]]), t, [SEG["a"]])
    with pytest.raises(InputError, match="int"):
        shape_part_ious(t.float(), t, [SEG["a"]])
    with pytest.raises(InputError, match="category_parts"):
        part_segmentation_metrics(t, t, ["zzz"], SEG)
    with pytest.raises(InputError, match="shapes"):
        shape_part_ious(t, t, [SEG["a"], SEG["b"]])
