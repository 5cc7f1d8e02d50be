"""Honest evaluation splits: group-wise, stratified, reproducible hold-outs.

A *group* is what must never straddle two splits: the source video of a UCF101 clip (its
``gXX`` group), the object behind the views of an R2N2 model, the 3D model behind the images
of Pix3D. A hold-out takes whole groups, about ``fraction`` of them within each *stratum*
(class / category), so every class is represented on both sides.

Which groups are held out depends only on the group names and a *salt*: each group gets the
key ``sha1(f"{salt}:{group}")`` and the groups with the smallest keys are taken. The result is
the same on every machine, every Python version and every worker count, and adding or removing
other groups never moves a group across the line within a stratum beyond the changed count.
Validation sets use the run's seed as the salt; test sets of datasets without an official test
split use the fixed salt :data:`TEST_SALT`, so that every run (whatever its seed) is scored on
the same items and never trains on them.

Rules per dataset live with the datasets (``spacetime.video.datasets.splits``,
``spacetime.shapes.datasets.splits``); this module is the one implementation they share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Mapping, Sequence

from spacetime.errors import InputError

__all__ = ["TEST_SALT", "group_key", "holdout_groups", "check_disjoint"]

#: salt of the fixed test hold-out of datasets that have no official test split
TEST_SALT = "spacetime-test-v1"


def group_key(group: str, salt: str | int) -> int:
    """The 64-bit ordering key of ``group`` under ``salt`` (first 8 bytes of a SHA-1)."""
    digest = hashlib.sha1(f"{salt}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def holdout_groups(
    groups: Sequence[str],
    fraction: float,
    *,
    salt: str | int,
    strata: Sequence[Hashable] | None = None,
) -> tuple[list[int], list[int]]:
    """Split item indices into ``(kept, held_out)`` by whole groups.

    Args:
        groups: the group name of each item (items of one group always end up together).
        fraction: share of each stratum's groups to hold out, in ``[0, 1)``; rounded to the
            nearest count, at least one group when the stratum has two or more groups and
            ``fraction > 0``, never all of a stratum's groups.
        salt: the seed of the choice (an int seed or a string such as :data:`TEST_SALT`).
        strata: the stratum (e.g. class label) of each item; a group belongs to the stratum of
            its first item. Default: one stratum.

    Returns:
        Two sorted lists of item indices; together they are ``range(len(groups))``.
    """
    if not 0.0 <= float(fraction) < 1.0:
        raise InputError(f"fraction: expected a value in [0, 1), got {fraction}")
    if strata is not None and len(strata) != len(groups):
        raise InputError(
            f"strata: expected one stratum per item ({len(groups)}), got {len(strata)}"
        )
    stratum_of: dict[str, Hashable] = {}
    for i, g in enumerate(groups):
        stratum_of.setdefault(str(g), None if strata is None else strata[i])
    by_stratum: dict[Hashable, list[str]] = {}
    for g, s in stratum_of.items():
        by_stratum.setdefault(s, []).append(g)
    held: set[str] = set()
    for members in by_stratum.values():
        n = len(members)
        k = int(round(fraction * n))
        if fraction > 0 and n >= 2:
            k = max(k, 1)
        k = min(k, n - 1) if n >= 1 else 0
        ordered = sorted(members, key=lambda g: (group_key(g, salt), g))
        held.update(ordered[:k])
    kept_idx = [i for i, g in enumerate(groups) if str(g) not in held]
    held_idx = [i for i, g in enumerate(groups) if str(g) in held]
    return kept_idx, held_idx


def check_disjoint(splits: Mapping[str, Iterable[str]]) -> None:
    """Raise :class:`~spacetime.errors.InputError` if two splits share an id.

    ``splits`` maps a split name (``"train"``, ``"val"``, ``"test"``) to the group ids of its
    items; the message names both splits and up to three shared ids.
    """
    names = list(splits)
    sets = {name: set(map(str, ids)) for name, ids in splits.items()}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sets[a] & sets[b]
            if shared:
                example = ", ".join(sorted(shared)[:3])
                raise InputError(
                    f"splits: {a!r} and {b!r} share {len(shared)} id(s), e.g. {example}"
                )
