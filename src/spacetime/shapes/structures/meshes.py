"""Batched, ragged triangle meshes with list / padded / packed views (after PyTorch3D).

A batch of N meshes with ``V_n`` vertices and ``F_n`` faces:

=======================  =================================  ======================================
view                     shape                              notes
=======================  =================================  ======================================
``verts_list()``         ``[(V_n, 3)]`` × N                 float
``verts_padded()``       ``(N, max(V_n), 3)``               zero padded
``verts_packed()``       ``(sum(V_n), 3)``                  all meshes' vertices, concatenated
``faces_list()``         ``[(F_n, 3)]`` × N                 int64, indices into ``verts_list()[n]``
``faces_padded()``       ``(N, max(F_n), 3)``               padded with -1
``faces_packed()``       ``(sum(F_n), 3)``                  indices into ``verts_packed()``
=======================  =================================  ======================================

Example, two meshes with 3 and 4 vertices: ``verts_packed()`` rows 0–2 belong to mesh 0 and rows
3–6 to mesh 1; ``mesh_to_verts_packed_first_idx() == [0, 3]``; a face ``[0, 1, 2]`` of mesh 1 is
``[3, 4, 5]`` in ``faces_packed()``.

Faces are counter-clockwise seen from outside (right-hand rule gives the outward normal).
Optional per-vertex data: ``verts_normals`` (else computed, area weighted), ``verts_colors``
``(V_n, 3)`` in [0, 1], and UV texturing (``verts_uvs`` ``(T_n, 2)``, ``faces_uvs`` ``(F_n, 3)``,
``texture_images`` ``(H, W, 3)``). Everything geometric is differentiable with respect to the
vertices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from spacetime.checks import check_tensor
from spacetime.errors import InputError
from spacetime.ragged import (
    check_lengths,
    lengths_to_first_idx,
    lengths_to_item_idx,
    list_to_padded,
)
from spacetime.shapes.structures.pointclouds import _index_list

__all__ = ["Meshes", "join_meshes_as_batch", "join_meshes_as_scene"]

TensorList = Sequence[torch.Tensor] | torch.Tensor


def _split_padded_faces(faces: torch.Tensor) -> list[torch.Tensor]:
    """Padded ``(N, F, 3)`` faces with -1 padding rows → list of ``(F_n, 3)``."""
    out = []
    for f in faces.unbind(0):
        keep = (f >= 0).all(dim=1)
        out.append(f[keep])
    return out


class Meshes:
    """A batch of triangle meshes of possibly different sizes.

    Args:
        verts: list of ``(V_n, 3)`` float tensors or a padded ``(N, V, 3)`` tensor.
        faces: list of ``(F_n, 3)`` int64 tensors or a padded ``(N, F, 3)`` tensor whose padding
            rows are -1. When ``verts`` is padded and ``faces`` given, each mesh keeps all V
            vertices unless ``verts_lengths`` says otherwise.
        verts_lengths: optional ``(N,)`` number of valid vertices per mesh for padded ``verts``.
        verts_normals: optional per-vertex normals, same layout as ``verts``.
        verts_colors: optional per-vertex RGB in [0, 1], same layout as ``verts``.
        verts_uvs, faces_uvs, texture_images: optional UV texturing, lists per mesh.
    """

    def __init__(
        self,
        verts: TensorList,
        faces: TensorList,
        *,
        verts_lengths: Sequence[int] | torch.Tensor | None = None,
        verts_normals: TensorList | None = None,
        verts_colors: TensorList | None = None,
        verts_uvs: Sequence[torch.Tensor] | None = None,
        faces_uvs: Sequence[torch.Tensor] | None = None,
        texture_images: Sequence[torch.Tensor | None] | None = None,
        validate: bool = True,
    ) -> None:
        if isinstance(verts, torch.Tensor):
            check_tensor(verts, "verts", ("N", "V", 3), dtype="float")
            if verts_lengths is None:
                self._verts = list(verts.unbind(0))
            else:
                lens = check_lengths(verts_lengths, "verts_lengths", verts.shape[0],
                                     verts.shape[1])
                self._verts = [verts[i, :n] for i, n in enumerate(lens)]
        elif isinstance(verts, (list, tuple)):
            self._verts = list(verts)
        else:
            raise InputError(
                "verts: expected a list of (V_n, 3) tensors or an (N, V, 3) tensor, "
                f"got {type(verts).__name__}"
            )
        if isinstance(faces, torch.Tensor):
            check_tensor(faces, "faces", ("N", "F", 3))
            self._faces = _split_padded_faces(faces)
        elif isinstance(faces, (list, tuple)):
            self._faces = list(faces)
        else:
            raise InputError(
                "faces: expected a list of (F_n, 3) tensors or an (N, F, 3) tensor, "
                f"got {type(faces).__name__}"
            )
        if len(self._verts) == 0:
            raise InputError("verts: expected at least one mesh, got an empty batch")
        if len(self._faces) != len(self._verts):
            raise InputError(
                f"faces: expected {len(self._verts)} meshes (as verts), got {len(self._faces)}"
            )
        self.device = self._verts[0].device
        self.dtype = self._verts[0].dtype
        for i, (v, f) in enumerate(zip(self._verts, self._faces)):
            check_tensor(v, f"verts[{i}]", ("V", 3), dtype="float")
            check_tensor(f, f"faces[{i}]", ("F", 3), dtype="int")
            if v.device != self.device or f.device != self.device:
                raise InputError(
                    f"verts[{i}]/faces[{i}]: expected device {self.device}, "
                    f"got {v.device}/{f.device}"
                )
            if validate:
                check_tensor(v, f"verts[{i}]", finite=True)
                if f.numel() and (int(f.min()) < 0 or int(f.max()) >= v.shape[0]):
                    raise InputError(
                        f"faces[{i}]: expected vertex indices in [0, {v.shape[0] - 1}], "
                        f"got range [{int(f.min())}, {int(f.max())}]"
                    )
        self._faces = [f.to(torch.int64) for f in self._faces]
        n = len(self._verts)
        counts = [v.shape[0] for v in self._verts]

        def per_vertex(value, name):
            if value is None:
                return None
            lst = (
                [value[i, :c] for i, c in enumerate(counts)]
                if isinstance(value, torch.Tensor)
                else list(value)
            )
            if len(lst) != n:
                raise InputError(f"{name}: expected {n} meshes, got {len(lst)}")
            for i, (t, c) in enumerate(zip(lst, counts)):
                check_tensor(t, f"{name}[{i}]", (c, 3), dtype="float")
            return lst

        self._verts_normals = per_vertex(verts_normals, "verts_normals")
        self._verts_colors = per_vertex(verts_colors, "verts_colors")
        self._verts_uvs = None if verts_uvs is None else list(verts_uvs)
        self._faces_uvs = None if faces_uvs is None else list(faces_uvs)
        self._texture_images = None if texture_images is None else list(texture_images)
        for name, lst in (
            ("verts_uvs", self._verts_uvs),
            ("faces_uvs", self._faces_uvs),
            ("texture_images", self._texture_images),
        ):
            if lst is not None and len(lst) != n:
                raise InputError(f"{name}: expected {n} meshes, got {len(lst)}")
        if self._faces_uvs is not None:
            for i, (fu, f) in enumerate(zip(self._faces_uvs, self._faces)):
                if fu.shape != f.shape:
                    raise InputError(
                        f"faces_uvs[{i}]: expected shape {tuple(f.shape)}, got {tuple(fu.shape)}"
                    )
        self._num_verts = torch.tensor(counts, dtype=torch.int64, device=self.device)
        self._num_faces = torch.tensor(
            [f.shape[0] for f in self._faces], dtype=torch.int64, device=self.device
        )
        self._cache: dict[str, object] = {}

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self._verts)

    def __repr__(self) -> str:
        return (
            f"Meshes(N={len(self)}, verts={self._num_verts.tolist()}, "
            f"faces={self._num_faces.tolist()}, device={self.device})"
        )

    def _cached(self, key: str, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def isempty(self) -> bool:
        """True if no mesh has any face."""
        return int(self._num_faces.sum()) == 0

    def num_verts_per_mesh(self) -> torch.Tensor:
        """``(N,)`` int64."""
        return self._num_verts

    def num_faces_per_mesh(self) -> torch.Tensor:
        """``(N,)`` int64."""
        return self._num_faces

    def mesh_to_verts_packed_first_idx(self) -> torch.Tensor:
        return self._cached("v_first", lambda: lengths_to_first_idx(self._num_verts))

    def mesh_to_faces_packed_first_idx(self) -> torch.Tensor:
        return self._cached("f_first", lambda: lengths_to_first_idx(self._num_faces))

    def verts_packed_to_mesh_idx(self) -> torch.Tensor:
        return self._cached("v2m", lambda: lengths_to_item_idx(self._num_verts))

    def faces_packed_to_mesh_idx(self) -> torch.Tensor:
        return self._cached("f2m", lambda: lengths_to_item_idx(self._num_faces))

    # ------------------------------------------------------------------ views
    def verts_list(self) -> list[torch.Tensor]:
        return list(self._verts)

    def faces_list(self) -> list[torch.Tensor]:
        return list(self._faces)

    def verts_packed(self) -> torch.Tensor:
        """``(sum(V_n), 3)``."""
        return self._cached("verts_packed", lambda: torch.cat(self._verts, 0))

    def faces_packed(self) -> torch.Tensor:
        """``(sum(F_n), 3)`` int64 indices into :meth:`verts_packed`."""

        def build():
            offsets = self.mesh_to_verts_packed_first_idx()
            return torch.cat([f + offsets[i] for i, f in enumerate(self._faces)], 0)

        return self._cached("faces_packed", build)

    def _pad(self, lst, pad_value, width):
        longest = max(t.shape[0] for t in lst)
        if longest == 0:
            return torch.full(
                (len(lst), 0, width), pad_value, dtype=lst[0].dtype, device=self.device
            )
        return list_to_padded(lst, pad_value, longest)

    def verts_padded(self) -> torch.Tensor:
        """``(N, max(V_n), 3)`` zero padded."""
        return self._cached("verts_padded", lambda: self._pad(self._verts, 0.0, 3))

    def faces_padded(self) -> torch.Tensor:
        """``(N, max(F_n), 3)`` padded with -1; indices into each mesh's own vertices."""
        return self._cached("faces_padded", lambda: self._pad(self._faces, -1, 3))

    # ------------------------------------------------------------------ per-vertex extras
    def verts_colors_list(self) -> list[torch.Tensor] | None:
        return None if self._verts_colors is None else list(self._verts_colors)

    def verts_colors_packed(self) -> torch.Tensor | None:
        return None if self._verts_colors is None else torch.cat(self._verts_colors, 0)

    def verts_colors_padded(self) -> torch.Tensor | None:
        return None if self._verts_colors is None else self._pad(self._verts_colors, 0.0, 3)

    def verts_uvs_list(self) -> list[torch.Tensor] | None:
        return None if self._verts_uvs is None else list(self._verts_uvs)

    def faces_uvs_list(self) -> list[torch.Tensor] | None:
        return None if self._faces_uvs is None else list(self._faces_uvs)

    def texture_images_list(self) -> list[torch.Tensor | None] | None:
        return None if self._texture_images is None else list(self._texture_images)

    def has_verts_normals(self) -> bool:
        """True if per-vertex normals were given (not computed)."""
        return self._verts_normals is not None

    # ------------------------------------------------------------------ edges
    def _edges(self):
        def build():
            faces = self.faces_packed()
            e = torch.cat([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]], 0)
            e, _ = e.sort(dim=1)
            if e.shape[0] == 0:
                empty = torch.zeros(0, 2, dtype=torch.int64, device=self.device)
                return empty, torch.zeros(0, 3, dtype=torch.int64, device=self.device)
            nv = max(int(self.verts_packed().shape[0]), 1)
            key = e[:, 0] * nv + e[:, 1]
            uniq, inverse = torch.unique(key, return_inverse=True)
            edges = torch.stack([uniq // nv, uniq % nv], 1)
            f2e = inverse.view(3, -1).t().contiguous()
            return edges, f2e

        return self._cached("edges", build)

    def edges_packed(self) -> torch.Tensor:
        """``(E, 2)`` unique undirected edges ``(i, j)``, ``i < j``, indices into verts_packed.

        Edges are sorted by ``(i, j)``, so the edges of mesh n are contiguous.
        """
        return self._edges()[0]

    def faces_packed_to_edges_packed(self) -> torch.Tensor:
        """``(sum(F_n), 3)``: edge index of each face's edges (opposite vertex 0, 1, 2)."""
        return self._edges()[1]

    def edges_packed_to_mesh_idx(self) -> torch.Tensor:
        return self.verts_packed_to_mesh_idx()[self.edges_packed()[:, 0]]

    def num_edges_per_mesh(self) -> torch.Tensor:
        """``(N,)`` int64 number of unique edges per mesh."""
        return torch.bincount(self.edges_packed_to_mesh_idx(), minlength=len(self))

    # ------------------------------------------------------------------ normals and areas
    def _face_cross(self) -> torch.Tensor:
        v = self.verts_packed()
        f = self.faces_packed()
        v0, v1, v2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        return torch.cross(v1 - v0, v2 - v0, dim=1)

    def faces_areas_packed(self) -> torch.Tensor:
        """``(sum(F_n),)`` triangle areas."""
        return self._cached("areas", lambda: 0.5 * self._face_cross().norm(dim=1))

    def faces_normals_packed(self) -> torch.Tensor:
        """``(sum(F_n), 3)`` unit face normals (zero for degenerate faces)."""

        def build():
            c = self._face_cross()
            n = c.norm(dim=1, keepdim=True)
            return c / n.clamp_min(torch.finfo(c.dtype).tiny) * (n > 0)

        return self._cached("fnormals", build)

    def faces_normals_list(self) -> list[torch.Tensor]:
        return list(self.faces_normals_packed().split(self._num_faces.tolist(), 0))

    def faces_normals_padded(self) -> torch.Tensor:
        return self._pad(self.faces_normals_list(), 0.0, 3)

    def faces_areas_list(self) -> list[torch.Tensor]:
        return list(self.faces_areas_packed().split(self._num_faces.tolist(), 0))

    def verts_normals_packed(self) -> torch.Tensor:
        """``(sum(V_n), 3)`` unit vertex normals: given ones, else area-weighted face normals."""

        def build():
            if self._verts_normals is not None:
                return torch.cat(self._verts_normals, 0)
            c = self._face_cross()
            f = self.faces_packed()
            acc = torch.zeros_like(self.verts_packed())
            for k in range(3):
                acc = acc.index_add(0, f[:, k], c)
            n = acc.norm(dim=1, keepdim=True)
            return acc / n.clamp_min(torch.finfo(acc.dtype).tiny) * (n > 0)

        return self._cached("vnormals", build)

    def verts_normals_list(self) -> list[torch.Tensor]:
        return list(self.verts_normals_packed().split(self._num_verts.tolist(), 0))

    def verts_normals_padded(self) -> torch.Tensor:
        return self._pad(self.verts_normals_list(), 0.0, 3)

    def get_bounding_boxes(self) -> torch.Tensor:
        """``(N, 3, 2)``: per mesh ``[:, :, 0]`` min and ``[:, :, 1]`` max (NaN if no verts)."""
        boxes = []
        for v in self._verts:
            if v.shape[0] == 0:
                boxes.append(torch.full((3, 2), float("nan"), dtype=v.dtype, device=self.device))
            else:
                boxes.append(torch.stack([v.min(0).values, v.max(0).values], 1))
        return torch.stack(boxes, 0)

    def laplacian_packed(self) -> torch.Tensor:
        """Uniform Laplacian ``L`` as a sparse ``(V, V)`` tensor over packed vertices.

        ``(L x)_i = mean_{j ∈ N(i)} x_j - x_i``; isolated vertices get a zero row.
        """

        def build():
            e = self.edges_packed()
            nv = self.verts_packed().shape[0]
            idx = torch.cat([e, e.flip(1)], 0).t()
            deg = torch.bincount(idx[0], minlength=nv).to(self.dtype)
            inv = torch.where(deg > 0, 1.0 / deg.clamp_min(1), torch.zeros_like(deg))
            vals = inv[idx[0]]
            diag = torch.arange(nv, device=self.device)
            all_idx = torch.cat([idx, torch.stack([diag, diag])], 1)
            all_vals = torch.cat([vals, -(deg > 0).to(self.dtype)])
            return torch.sparse_coo_tensor(
                all_idx, all_vals, (nv, nv), check_invariants=False, device=self.device
            ).coalesce()

        return self._cached("laplacian", build)

    # ------------------------------------------------------------------ batch operations
    def _rebuild(self, verts, faces=None, idx=None) -> Meshes:
        def pick(lst):
            if lst is None:
                return None
            return list(lst) if idx is None else [lst[i] for i in idx]

        faces = pick(self._faces) if faces is None else faces
        return Meshes(
            verts,
            faces,
            verts_normals=pick(self._verts_normals),
            verts_colors=pick(self._verts_colors),
            verts_uvs=pick(self._verts_uvs),
            faces_uvs=pick(self._faces_uvs),
            texture_images=pick(self._texture_images),
            validate=False,
        )

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> Meshes:
        idx = _index_list(index, len(self))
        if not idx:
            raise InputError("index: expected to select at least one mesh, got none")
        return self._rebuild([self._verts[i] for i in idx], idx=idx)

    def _map(self, fn_float, fn_int=None) -> Meshes:
        fn_int = fn_int or fn_float

        def apply(lst, fn):
            return None if lst is None else [None if t is None else fn(t) for t in lst]

        return Meshes(
            apply(self._verts, fn_float),
            apply(self._faces, fn_int),
            verts_normals=apply(self._verts_normals, fn_float),
            verts_colors=apply(self._verts_colors, fn_float),
            verts_uvs=apply(self._verts_uvs, fn_float),
            faces_uvs=apply(self._faces_uvs, fn_int),
            texture_images=apply(self._texture_images, fn_float),
            validate=False,
        )

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Copy to ``device``; ``dtype`` casts floating tensors only."""
        return self._map(lambda t: t.to(device=device, dtype=dtype), lambda t: t.to(device))

    def cpu(self) -> Meshes:
        return self.to("cpu")

    def clone(self) -> Meshes:
        return self._map(torch.clone)

    def detach(self) -> Meshes:
        return self._map(torch.Tensor.detach)

    def offset_verts(self, offsets_packed: torch.Tensor) -> Meshes:
        """New meshes with ``verts_packed() + offsets_packed`` (``(sum(V_n), 3)`` or ``(3,)``)."""
        total = int(self._num_verts.sum())
        if offsets_packed.shape == (3,):
            offsets_packed = offsets_packed.expand(total, 3)
        check_tensor(offsets_packed, "offsets_packed", (total, 3), dtype="float")
        new = self.verts_packed() + offsets_packed
        return self._rebuild(list(new.split(self._num_verts.tolist(), 0)))

    def update_padded(self, new_verts_padded: torch.Tensor) -> Meshes:
        """New meshes whose vertices are read from ``(N, max(V_n), 3)``; topology kept."""
        check_tensor(
            new_verts_padded,
            "new_verts_padded",
            (len(self), self.verts_padded().shape[1], 3),
            dtype="float",
        )
        counts = self._num_verts.tolist()
        return self._rebuild([new_verts_padded[i, :c] for i, c in enumerate(counts)])

    def update_packed(self, new_verts_packed: torch.Tensor) -> Meshes:
        """New meshes whose vertices are read from ``(sum(V_n), 3)``; topology kept."""
        check_tensor(
            new_verts_packed, "new_verts_packed", (int(self._num_verts.sum()), 3), dtype="float"
        )
        return self._rebuild(list(new_verts_packed.split(self._num_verts.tolist(), 0)))

    def scale_verts(self, scale: float | torch.Tensor) -> Meshes:
        """New meshes with vertices multiplied by ``scale`` (a float or ``(N,)``)."""
        s = torch.as_tensor(scale, dtype=self.dtype, device=self.device)
        if s.dim() == 0:
            s = s.expand(len(self))
        check_tensor(s, "scale", (len(self),))
        return self._rebuild([v * s[i] for i, v in enumerate(self._verts)])

    def extend(self, n: int) -> Meshes:
        """Repeat each mesh ``n`` times: ``[m0, m0, …, m1, m1, …]``."""
        if not isinstance(n, int) or n < 1:
            raise InputError(f"n: expected an int >= 1, got {n!r}")
        idx = [i for i in range(len(self)) for _ in range(n)]
        return self._rebuild([self._verts[i] for i in idx], idx=idx)


def join_meshes_as_batch(meshes: Sequence[Meshes]) -> Meshes:
    """Concatenate several ``Meshes`` batches into one batch (N = sum of the Ns)."""
    if not meshes:
        raise InputError("meshes: expected at least one Meshes, got none")

    def gather(attr):
        lists = [getattr(m, attr) for m in meshes]
        if all(lst is None for lst in lists):
            return None
        if any(lst is None for lst in lists):
            raise InputError(f"meshes: expected all or none to have {attr.strip('_')}, got a mix")
        return [t for lst in lists for t in lst]

    return Meshes(
        gather("_verts"),
        gather("_faces"),
        verts_normals=gather("_verts_normals"),
        verts_colors=gather("_verts_colors"),
        verts_uvs=gather("_verts_uvs"),
        faces_uvs=gather("_faces_uvs"),
        texture_images=gather("_texture_images"),
        validate=False,
    )


def join_meshes_as_scene(meshes: Meshes | Sequence[Meshes]) -> Meshes:
    """Merge every mesh of the batch(es) into ONE mesh (a scene); per-vertex colors kept."""
    batch = meshes if isinstance(meshes, Meshes) else join_meshes_as_batch(meshes)
    colors = batch.verts_colors_packed()
    return Meshes(
        [batch.verts_packed()],
        [batch.faces_packed()],
        verts_colors=None if colors is None else [colors],
        validate=False,
    )
