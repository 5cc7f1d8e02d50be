import csv
import importlib.util
import json

import pytest
import torch

from spacetime.engine import (
    ClassificationStep,
    TrainConfig,
    Trainer,
    build_loader,
    build_optimizer,
    build_scheduler,
    load_checkpoint,
    seed_everything,
)
from spacetime.errors import FileFormatError, InputError, MissingFileError, SpacetimeError
from tests.engine._toy import DictDataset, toy_data, toy_model


class RecordingStep(ClassificationStep):
    """Classification step that records every training loss value."""

    def __init__(self):
        super().__init__()
        self.losses: list[float] = []

    def __call__(self, model, batch):
        loss, metrics = super().__call__(model, batch)
        if model.training:
            self.losses.append(float(loss.detach()))
        return loss, metrics


def _make(tmp_dir, epochs=3, seed=0, optimizer="adam", scheduler="cosine", **cfg_kw):
    """Fresh objects, as a new process would build them."""
    seed_everything(seed)
    model = toy_model(dropout=0.2)  # dropout: the torch RNG must be restored too
    train = build_loader(toy_data(40), 8, shuffle=True, seed=seed)
    val = build_loader(toy_data(20, seed=9), 8)
    cfg = TrainConfig(
        epochs=epochs, optimizer=optimizer, lr=0.05, scheduler=scheduler, warmup_epochs=0.5,
        grad_clip=1.0, seed=seed, out_dir=str(tmp_dir), progress=False, tensorboard=False,
        plot=False, weight_decay=1e-4, **cfg_kw,
    )
    step = RecordingStep()
    return Trainer(model, train, val, cfg, step_fn=step, meta={"model": "toy"}), step


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize(("optimizer", "scheduler"), [("adam", "cosine"), ("sgd", "onecycle")])
def test_resume_is_exact(tmp_path, optimizer, scheduler):
    straight, rec_a = _make(tmp_path / "a", optimizer=optimizer, scheduler=scheduler)
    straight.fit(until_epoch=2)
    params_2 = _params(straight.model).clone()
    straight.fit()  # third epoch
    first, rec_b1 = _make(tmp_path / "b", optimizer=optimizer, scheduler=scheduler)
    first.fit(until_epoch=1)
    del first
    torch.manual_seed(999)  # disturb global RNG: resume must restore it
    resumed, rec_b2 = _make(tmp_path / "b", seed=0, optimizer=optimizer, scheduler=scheduler)
    resumed.fit(resume=tmp_path / "b" / "checkpoints" / "last.pt", until_epoch=2)
    assert resumed.epoch == 2 and resumed.step == 10
    assert torch.equal(_params(resumed.model), params_2)
    resumed.fit()
    assert torch.equal(_params(resumed.model), _params(straight.model))
    # identical per-step losses after resuming, including the next step
    assert rec_b1.losses + rec_b2.losses == rec_a.losses
    assert [r["train/loss"] for r in resumed.history] == [
        r["train/loss"] for r in straight.history
    ]
    rows = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]


def test_run_directory_contents(tmp_path):
    seed_everything(0)
    train = build_loader(DictDataset(toy_data(24)), 8, shuffle=True, seed=0)
    val = build_loader(DictDataset(toy_data(12, seed=5)), 8)
    cfg = TrainConfig(epochs=2, lr=0.1, out_dir=str(tmp_path / "run"), progress=False,
                      tensorboard=True, plot=True, log_every=1)
    lines = []
    trainer = Trainer(toy_model(), train, val, cfg, meta={"classes": ["a", "b", "c"]},
                      log=lines.append)
    history = trainer.fit()
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "metrics.json", "curves.png",
                 "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    if importlib.util.find_spec("tensorboard") is not None:  # the extra spacetime[tensorboard]
        assert list((run / "tb").iterdir())
    else:  # warned (test_run_dir_without_tensorboard_warns_and_still_writes), nothing written
        assert not (run / "tb").exists()
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 2 and config["meta"]["classes"] == ["a", "b", "c"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best"]["metric"] == "val/acc" and metrics["epochs"] == 2
    assert len(metrics["history"]) == 2 and len(history) == 2
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "lr"} <= set(history[0])
    assert len(lines) == 2 and lines[0].startswith("epoch 1")
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["meta"]["classes"] == ["a", "b", "c"]
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leftovers = [p for p in run.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_training_reduces_loss_and_evaluate(tmp_path):
    seed_everything(1)
    data = toy_data(64)
    train = build_loader(data, 16, shuffle=True, seed=1)
    cfg = TrainConfig(epochs=15, optimizer="adamw", lr=0.03, progress=False)
    trainer = Trainer(toy_model(), train, None, cfg)
    before = trainer.evaluate(build_loader(data, 64))
    trainer.fit()
    after = trainer.evaluate(build_loader(data, 64))
    assert after["loss"] < 0.7 * before["loss"]
    assert after["acc"] > 0.8
    assert trainer.best["metric"] == "train/loss"


def test_custom_step_fn_and_metric_weights():
    # a regression model plugs in with its own step function; "n" overrides the weight
    seed_everything(0)
    x = torch.randn(30, 2)
    y = x.sum(dim=1, keepdim=True)
    ds = torch.utils.data.TensorDataset(x, y)

    def step_fn(model, batch):
        inp, target = batch
        err = model(inp) - target
        return err.pow(2).mean(), {"mae": err.abs().mean(), "n": inp.shape[0]}

    model = torch.nn.Linear(2, 1)
    trainer = Trainer(model, build_loader(ds, 8, shuffle=True), None,
                      TrainConfig(epochs=30, optimizer="sgd", lr=0.1, progress=False),
                      step_fn=step_fn)
    hist = trainer.fit()
    assert hist[-1]["train/loss"] < 1e-3 and "train/mae" in hist[-1]
    # epoch mean weighted by samples: 30 samples in batches 8,8,8,6
    m = trainer.evaluate(build_loader(ds, 8))
    err = (model(x) - y).detach()
    assert m["loss"] == pytest.approx(float(err.pow(2).mean()), rel=1e-5)


def test_optimizers_and_schedulers():
    model = toy_model()
    for name in ("sgd", "adam", "adamw"):
        opt = build_optimizer(model, name, lr=0.1, weight_decay=0.01)
        assert opt.param_groups[0]["lr"] == 0.1
    opt = build_optimizer(model, "sgd", lr=1.0)
    sched = build_scheduler(opt, "step", total_steps=9, step_size=3, gamma=0.5, warmup_steps=2)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    opt = build_optimizer(model, "sgd", lr=1.0)
    sched = build_scheduler(opt, "cosine", total_steps=4)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 0.853553, 0.5, 0.146447, 0.0], abs=1e-5)
    opt = build_optimizer(model, "sgd", lr=1.0)
    sched = build_scheduler(opt, "onecycle", total_steps=10, warmup_steps=3)
    peak = []
    for _ in range(10):
        peak.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert max(peak) == pytest.approx(1.0) and peak.index(max(peak)) == 2


def test_bad_config_and_inputs(tmp_path):
    with pytest.raises(InputError, match="optimizer: expected one of 'sgd', 'adam', 'adamw'"):
        build_optimizer(toy_model(), "rmsprop")
    with pytest.raises(InputError, match="scheduler: expected one of"):
        TrainConfig(scheduler="exp").validate()
    with pytest.raises(InputError, match="epochs: expected an int >= 1"):
        TrainConfig(epochs=0).validate()
    with pytest.raises(InputError, match="lr: expected a value > 0"):
        TrainConfig(lr=-1.0).validate()
    with pytest.raises(InputError, match="grad_clip"):
        TrainConfig(grad_clip=0.0).validate()
    loader = build_loader(DictDataset(toy_data(8)), 4)
    trainer = Trainer(toy_model(), loader, None,
                      TrainConfig(epochs=1, progress=False),
                      step_fn=ClassificationStep(input_key="frames"))
    with pytest.raises(InputError, match="batch: expected key 'frames'"):
        trainer.fit()
    with pytest.raises(InputError, match="loader: expected a loader, got None"):
        trainer.evaluate()
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="device"):
            Trainer(toy_model(), loader, None, TrainConfig(device="cuda"))


def test_divergence_is_reported():
    x = torch.randn(8, 6)
    x[0, 0] = float("nan")
    ds = torch.utils.data.TensorDataset(x, torch.zeros(8, dtype=torch.long))
    trainer = Trainer(toy_model(), build_loader(ds, 8), None,
                      TrainConfig(epochs=1, progress=False))
    with pytest.raises(SpacetimeError, match="training diverged"):
        trainer.fit()


def test_checkpoint_errors(tmp_path):
    with pytest.raises(MissingFileError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="cannot read"):
        load_checkpoint(bad)
    plain = tmp_path / "plain.pt"
    torch.save({"model": {}}, plain)
    with pytest.raises(FileFormatError, match="not a spacetime checkpoint"):
        load_checkpoint(plain)
    # truncated real checkpoint
    seed_everything(0)
    trainer = Trainer(toy_model(), build_loader(toy_data(8), 4), None,
                      TrainConfig(epochs=1, progress=False))
    good = trainer.save_checkpoint(tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError):
        load_checkpoint(tmp_path / "trunc.pt")


@pytest.mark.cuda  # skipped without a GPU (tests/conftest.py); `make test-gpu` runs it
@pytest.mark.parametrize("amp_dtype", ["float16", "bfloat16"])
def test_cuda_amp_training_and_resume(tmp_path, amp_dtype):
    seed_everything(0)
    train = build_loader(toy_data(48), 8, shuffle=True, seed=0)
    cfg = TrainConfig(epochs=2, optimizer="adam", lr=0.01, device="cuda", amp=True,
                      amp_dtype=amp_dtype, grad_clip=1.0, progress=False,
                      out_dir=str(tmp_path), tensorboard=False, plot=False)
    trainer = Trainer(toy_model(), train, None, cfg)
    assert trainer.amp_enabled and trainer.scaler.is_enabled() == (amp_dtype == "float16")
    hist = trainer.fit()
    assert hist[-1]["train/loss"] < hist[0]["train/loss"] + 0.1
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["rng"]["cuda"] and next(iter(state["model"].values())).device.type == "cpu"


def test_resume_into_a_different_model_is_an_input_error(tmp_path):
    seed_everything(0)
    loader = build_loader(toy_data(8), 4)
    trainer = Trainer(toy_model(), loader, None, TrainConfig(epochs=1, progress=False))
    path = trainer.save_checkpoint(tmp_path / "c.pt")
    other = Trainer(toy_model(num_classes=5), loader, None, TrainConfig(epochs=1, progress=False))
    with pytest.raises(InputError, match="checkpoint: does not match this model"):
        other.fit(resume=path)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("loader_kind", ["build_loader", "plain"])
def test_mid_epoch_resume_is_exact(tmp_path, loader_kind):
    def make(out, crash_at=None):
        seed_everything(0)
        model = toy_model(dropout=0.2)
        if loader_kind == "build_loader":
            train = build_loader(toy_data(40), 8, shuffle=True, seed=0)
        else:  # a user's DataLoader with its own generator: batches are drawn and dropped
            train = torch.utils.data.DataLoader(toy_data(40), 8, shuffle=True,
                                                generator=torch.Generator().manual_seed(0))
        cfg = TrainConfig(epochs=2, optimizer="adam", lr=0.05, scheduler="cosine",
                          out_dir=str(out), progress=False, tensorboard=False, plot=False,
                          checkpoint_every=3)
        step = RecordingStep()
        if crash_at is not None:
            inner = step.__call__

            def crashing(model, batch):
                if model.training and len(step.losses) == crash_at:
                    raise _Crash
                return inner(model, batch)

            return Trainer(model, train, None, cfg, step_fn=crashing), step
        return Trainer(model, train, None, cfg, step_fn=step), step

    straight, rec_a = make(tmp_path / "a")
    straight.fit()
    crashed, rec_b = make(tmp_path / "b", crash_at=8)
    with pytest.raises(_Crash):
        crashed.fit()
    state = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert state["step"] == 6 and state["epoch"] == 1 and state["batches_done"] == 1
    torch.manual_seed(123)
    resumed, rec_c = make(tmp_path / "b")
    resumed.fit(resume=tmp_path / "b" / "checkpoints" / "last.pt")
    assert resumed.step == 10
    assert rec_b.losses[:6] + rec_c.losses == rec_a.losses
    assert torch.equal(_params(resumed.model), _params(straight.model))
    assert resumed.history[-1]["train/loss"] == straight.history[-1]["train/loss"]
    # the epoch-end checkpoint no longer carries mid-epoch state
    final = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert final["batches_done"] == 0 and final["partial"] is None


def test_fit_evaluate_and_resume_on_device(tmp_path, device):
    """Two epochs with validation and a checkpoint on ``device`` (the loaders yield CPU
    batches; the trainer moves them); the checkpoint holds CPU tensors and resumes there."""
    seed_everything(0)
    cfg = TrainConfig(epochs=2, optimizer="adam", lr=0.01, device=device, progress=False,
                      out_dir=str(tmp_path), tensorboard=False, plot=False)
    trainer = Trainer(toy_model(), build_loader(toy_data(24), 8, shuffle=True, seed=0),
                      build_loader(toy_data(16, seed=9), 8), cfg)
    hist = trainer.fit()
    assert len(hist) == 2 and all(torch.isfinite(torch.tensor(h["train/loss"])) for h in hist)
    assert next(trainer.model.parameters()).device.type == device
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert all(v.device.type == "cpu" for v in state["model"].values())
    resumed = Trainer(toy_model(), build_loader(toy_data(24), 8), None,
                      TrainConfig(epochs=3, device=device, progress=False, out_dir=str(tmp_path),
                                  tensorboard=False, plot=False))
    resumed.load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert next(resumed.model.parameters()).device.type == device


def test_run_dir_without_tensorboard_warns_and_still_writes(tmp_path, monkeypatch):
    """tensorboard is the optional extra spacetime[tensorboard]: without it a run directory
    says how to get it and writes everything but tb/."""
    import sys

    from spacetime.engine.rundir import RunDir

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.warns(UserWarning, match=r"pip install 'spacetime\[tensorboard\]'"):
        run = RunDir(tmp_path / "run")
    run.log_epoch([{"epoch": 1, "train/loss": 0.5}])
    run.close()
    assert (tmp_path / "run" / "metrics.csv").is_file()
    assert not (tmp_path / "run" / "tb").exists()
    assert RunDir(tmp_path / "quiet", tensorboard=False)._tb is None  # no warning asked for
