"""The one documented split rule of each video data source, behind the ``--data`` strings.

==================================  ================  ===========  ========================
``--data``                          train             val          test (``evaluate``)
==================================  ================  ===========  ========================
``synthetic-motion``                ``"train"``       ``"val"``    ``"test"`` (generated)
``folder:ROOT`` with train/, test/  ``ROOT/train``    carved       ``ROOT/test``
``folder:ROOT`` (class folders)     the rest          carved       fixed 20 % hold-out
``ucf101:ROOT:SPLITDIR``            ``trainlist0F``   carved       ``testlist0F``
``hmdb51:ROOT:SPLITDIR``            tag 1, split F    carved       tag 2, split F
``kinetics:ROOT:TRAIN_CSV:VAL_CSV`` ``TRAIN_CSV``     carved       ``VAL_CSV``
==================================  ================  ===========  ========================

*Carved* (from train) means :func:`spacetime.splits.holdout_groups` with the run's seed:
``val_fraction`` (default 10 %) of the training *groups* of every class, so that the clips of
one source video never straddle train and val. Groups: UCF101 — the ``gXX`` group of
``v_<Class>_gXX_cYY`` (clips of one group come from one long video); HMDB51 — the source title
before ``_<class>_`` in the file name; Kinetics — the YouTube id; folders — the file name
without extension (or its UCF101-style group when it has one). The fixed test hold-out of a
folder without a ``test/`` sub-folder takes 20 % of each class's groups with the salt
:data:`~spacetime.splits.TEST_SALT`: the same files on every machine, whatever the seed.
Kinetics' official validation list is the test split here, as in the papers that report
Kinetics accuracy. Test data never selects a checkpoint: the training loop validates on ``val``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from spacetime.checks import check_in
from spacetime.errors import InputError, MissingFileError
from spacetime.splits import TEST_SALT, holdout_groups
from spacetime.video.datasets.folder import check_missing, find_videos
from spacetime.video.datasets.hmdb51 import read_hmdb51_split
from spacetime.video.datasets.kinetics import locate_kinetics_video, read_kinetics_csv
from spacetime.video.datasets.ucf101 import read_ucf101_split

__all__ = ["VIDEO_DATA_FORMS", "VideoData", "VideoSplits", "video_splits", "video_group"]

#: ``--data`` kinds and their ``:``-separated fields
VIDEO_DATA_FORMS: dict[str, tuple[str, ...]] = {
    "synthetic-motion": (),
    "folder": ("ROOT",),
    "ucf101": ("ROOT", "SPLITDIR"),
    "hmdb51": ("ROOT", "SPLITDIR"),
    "kinetics": ("ROOT", "TRAIN_CSV", "VAL_CSV"),
}

#: share of each class's groups held out as the test split of a folder without ``test/``
FOLDER_TEST_FRACTION = 0.2

_UCF_GROUP = re.compile(r"_g(\d+)_c\d+$")


def _forms() -> str:
    return ", ".join(":".join([k, *v]) for k, v in VIDEO_DATA_FORMS.items())


@dataclass(frozen=True)
class VideoData:
    """A parsed ``--data`` string: ``kind`` and its paths (see :data:`VIDEO_DATA_FORMS`).

    ``kinetics:ROOT:TRAIN_CSV`` has no test list; ``kinetics:CSV:ROOT`` (the form of
    spacetime 0.1) is read as the same.
    """

    kind: str
    paths: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | VideoData) -> VideoData:
        """Parse ``"ucf101:/data/UCF-101:/data/ucfTrainTestlist"`` and friends."""
        if isinstance(text, VideoData):
            return text
        kind, _, rest = str(text).partition(":")
        parts = tuple(rest.split(":")) if rest else ()
        if kind == "kinetics" and len(parts) == 2 and all(parts):
            legacy = parts[0].lower().endswith(".csv")
            return cls(kind, (parts[1], parts[0], "") if legacy else (parts[0], parts[1], ""))
        if kind not in VIDEO_DATA_FORMS or len(parts) != len(VIDEO_DATA_FORMS[kind]):
            raise InputError(f"data: expected one of {_forms()}, got {text!r}")
        if any(not p for p in parts):
            raise InputError(f"data: empty path in {text!r}")
        return cls(kind, parts)

    def __str__(self) -> str:
        return ":".join([self.kind, *(p for p in self.paths if p)])


@dataclass
class VideoSplits:
    """Train / val / test videos of one data source: ``(path, label)`` lists, the class names,
    each item's group id (``groups[split]``) and the rule that made them (one line)."""

    class_names: list[str]
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    test: list[tuple[str, int]]
    groups: dict[str, list[str]] = field(default_factory=dict)
    rule: str = ""

    def split(self, name: str) -> list[tuple[str, int]]:
        """The ``(path, label)`` list of ``"train"``, ``"val"`` or ``"test"``."""
        check_in(name, "split", ("train", "val", "test"))
        return getattr(self, name)


def video_group(kind: str, path: str, class_name: str) -> str:
    """The group id of one video (see the module docstring): items of a group stay together."""
    stem = Path(path).stem
    if kind == "hmdb51":
        title = stem.split(f"_{class_name}_")[0] if f"_{class_name}_" in stem else \
            re.sub(r"_\d+$", "", stem)
        return f"{class_name}/{title}"
    m = _UCF_GROUP.search(stem)
    if m is not None:
        return f"{class_name}/g{int(m.group(1)):02d}"
    return f"{class_name}/{stem}"


def _carve(items: list[tuple[str, int, str]], fraction: float, salt: str | int
           ) -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str]]]:
    kept, held = holdout_groups([g for _, _, g in items], fraction, salt=salt,
                                strata=[y for _, y, _ in items])
    return [items[i] for i in kept], [items[i] for i in held]


def _drop_missing(items: list[tuple[str, int, str]], missing: str, what: str
                  ) -> list[tuple[str, int, str]]:
    kept = {p for p, _ in check_missing([(p, y) for p, y, _ in items], missing, what)}
    return [it for it in items if it[0] in kept]


def video_splits(
    data: str | VideoData,
    *,
    fold: int = 1,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> VideoSplits:
    """Train / val / test lists of a file data source by its documented rule.

    Args:
        data: ``folder:ROOT``, ``ucf101:ROOT:SPLITDIR``, ``hmdb51:ROOT:SPLITDIR`` or
            ``kinetics:ROOT:TRAIN_CSV:VAL_CSV`` (``synthetic-motion`` has generated splits:
            :class:`~spacetime.video.datasets.SyntheticMotion`).
        fold: UCF101 / HMDB51 split 1, 2 or 3.
        val_fraction: share of each class's training groups held out for validation.
        seed: the validation hold-out's seed (the run's seed).

    Raises:
        InputError: a malformed ``data`` string. MissingFileError / FileFormatError: missing
        or malformed split files, listed videos that are absent (Kinetics: skipped with one
        warning, as YouTube removals make some unavailable).
    """
    spec = VideoData.parse(data)
    kind, paths = spec.kind, spec.paths
    if kind == "synthetic-motion":
        raise InputError("data: synthetic-motion has generated splits (SyntheticMotion)")
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction: expected a value in [0, 1), got {val_fraction}")
    test: list[tuple[str, int, str]]
    if kind == "folder":
        root = Path(paths[0]).expanduser()
        if (root / "train").is_dir() and (root / "test").is_dir():
            train_v, names = find_videos(root / "train")
            test_v, test_names = find_videos(root / "test")
            if test_names != names:
                raise InputError(f"data: {root}/test has classes {test_names}, {root}/train has "
                                 f"{names}; they must be the same folders")
            train = [(p, y, video_group(kind, p, names[y])) for p, y in train_v]
            test = [(p, y, video_group(kind, p, names[y])) for p, y in test_v]
            rule = (f"folder: {root}/train (val: {val_fraction:.0%} of its groups per class, "
                    f"seed {seed}), test {root}/test")
        else:
            videos, names = find_videos(root)
            items = [(p, y, video_group(kind, p, names[y])) for p, y in videos]
            train, test = _carve(items, FOLDER_TEST_FRACTION, TEST_SALT)
            rule = (f"folder: test = fixed {FOLDER_TEST_FRACTION:.0%} of each class's groups; "
                    f"val = {val_fraction:.0%} of the rest (seed {seed})")
    elif kind in ("ucf101", "hmdb51"):
        root, split_dir = Path(paths[0]).expanduser(), paths[1]
        reader = read_ucf101_split if kind == "ucf101" else read_hmdb51_split
        tr, names = reader(split_dir, fold, True)
        te, _ = reader(split_dir, fold, False)
        what = "UCF101" if kind == "ucf101" else "HMDB51"
        train = _drop_missing([(str(root / r), y, video_group(kind, r, names[y]))
                               for r, y in tr], "raise", what)
        test = _drop_missing([(str(root / r), y, video_group(kind, r, names[y]))
                              for r, y in te], "raise", what)
        rule = (f"{kind}: official split {fold} (train / test lists), val = {val_fraction:.0%} "
                f"of the training groups per class (seed {seed})")
    else:  # kinetics
        root, train_csv, test_csv = paths
        rows = read_kinetics_csv(train_csv)
        names = sorted({r["label"] for r in rows if r["label"]})

        def listed(csv_rows, csv_path) -> list[tuple[str, int, str]]:
            out = []
            for r in csv_rows:
                if r["label"] not in names:
                    raise InputError(f"data: {csv_path}: label {r['label']!r} is not a class "
                                     f"of the training CSV {train_csv}")
                out.append((locate_kinetics_video(root, r), names.index(r["label"]),
                            r["youtube_id"]))
            return _drop_missing(out, "skip", "Kinetics")

        train = listed(rows, train_csv)
        test = listed(read_kinetics_csv(test_csv), test_csv) if test_csv else []
        rule = (f"kinetics: train {train_csv}, test {test_csv or '(none given)'}, val = "
                f"{val_fraction:.0%} of the training videos per class (seed {seed})")
    train, val = _carve(train, val_fraction, seed)
    if not train:
        raise MissingFileError(f"data: {spec}: no training videos")
    return VideoSplits(
        class_names=list(names),
        train=[(p, y) for p, y, _ in train],
        val=[(p, y) for p, y, _ in val],
        test=[(p, y) for p, y, _ in test],
        groups={"train": [g for *_, g in train], "val": [g for *_, g in val],
                "test": [g for *_, g in test]},
        rule=rule,
    )
