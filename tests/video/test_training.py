"""The lecture's point as a test: on clips whose classes differ only by motion, a single-frame
model stays at chance while a 3D CNN (slow fusion) learns them; on the appearance-control
classes the single-frame model does learn. Held-out videos, fixed seeds, CPU, a few seconds."""

import pytest
import torch

from spacetime.engine import (
    TrainConfig,
    Trainer,
    build_loader,
    evaluate_classifier,
    seed_everything,
)
from spacetime.video import transforms as T
from spacetime.video.datasets.synthetic import SyntheticMotion
from spacetime.video.models import single_frame, slow_fusion

FRAMES, SIZE = 8, 32


def _data(classes: str, split: str, per_class: int) -> SyntheticMotion:
    tf = T.Compose([T.ToFloat(), T.Normalize(), T.ConvertLayout("TCHW", "CTHW")])
    return SyntheticMotion(split, classes=classes, videos_per_class=per_class,
                           num_frames=FRAMES, size=SIZE, seed=0, cache=False, transform=tf)


def _train_and_test(build, classes: str, epochs: int = 6) -> float:
    train, test = _data(classes, "train", 24), _data(classes, "test", 8)
    seed_everything(0)
    model = build(num_classes=len(train.class_names))
    cfg = TrainConfig(epochs=epochs, optimizer="adam", lr=1e-2, scheduler="cosine",
                      progress=False, seed=0)
    Trainer(model, build_loader(train, 8, shuffle=True, seed=0), None, cfg).fit()
    res = evaluate_classifier(model, build_loader(test, 32), num_classes=len(train.class_names))
    assert res["video"]["num_samples"] == len(test)
    return res["video"]["top1"]


def _temporal(num_classes):
    return slow_fusion(num_classes=num_classes, channels=(16, 32, 32))


def _single(num_classes):
    return single_frame(num_classes=num_classes, channels=(16, 32, 32))


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-reproducible and fair on a shared 2-core machine
    yield
    torch.set_num_threads(n)


@pytest.mark.slow
def test_temporal_model_beats_single_frame_on_motion_classes():
    chance = 1 / 8
    temporal = _train_and_test(_temporal, "motion")
    single = _train_and_test(_single, "motion")
    assert temporal >= chance + 0.3, f"slow fusion top-1 {temporal:.3f}"
    assert single <= chance + 0.15, f"single frame top-1 {single:.3f}"
    assert temporal - single >= 0.3


@pytest.mark.slow
def test_single_frame_learns_appearance_classes():
    chance = 1 / 4
    single = _train_and_test(_single, "appearance", epochs=4)
    assert single >= chance + 0.3, f"single frame top-1 on appearance classes {single:.3f}"
