import pytest
import torch

from spacetime.engine.plots import plot_confusion_matrix, plot_training_curves
from spacetime.errors import InputError

PNG = b"\x89PNG\r\n\x1a\n"


def test_training_curves_png(tmp_path):
    hist = [{"epoch": 1, "train/loss": 1.0, "val/loss": 1.2, "train/acc": 0.3, "val/acc": 0.2},
            {"epoch": 2, "train/loss": 0.5, "val/loss": float("nan"), "train/acc": 0.6}]
    out = plot_training_curves(hist, tmp_path / "sub" / "curves.png", title="toy")
    assert out.read_bytes()[:8] == PNG
    only_loss = plot_training_curves([{"epoch": 1, "train/loss": 1.0}], tmp_path / "l.png")
    assert only_loss.is_file()
    with pytest.raises(InputError, match="history"):
        plot_training_curves([], tmp_path / "x.png")


def test_confusion_matrix_png(tmp_path):
    cm = torch.tensor([[3, 1, 0], [0, 0, 0], [1, 0, 2]])
    out = plot_confusion_matrix(cm, tmp_path / "cm.png", ["a", "b", "c"])
    assert out.read_bytes()[:8] == PNG
    assert plot_confusion_matrix(cm, tmp_path / "raw.png", normalize=False).is_file()
    with pytest.raises(InputError, match="class_names: expected 3 names, got 2"):
        plot_confusion_matrix(cm, tmp_path / "bad.png", ["a", "b"])
    with pytest.raises(InputError, match=r"cm: expected shape \(C, C\)"):
        plot_confusion_matrix(torch.zeros(2, 3), tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png", "raw.png"]
