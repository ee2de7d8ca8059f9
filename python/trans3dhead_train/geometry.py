"""Geometry shared by the dataset reader, the losses and the metrics.

Frames (as DAD-3DHeads and DAD-3DNet use them):
- model: the annotation's `vertices`, FLAME's own frame (y up, face towards +z).
- world: `model_view_matrix @ [v; 1]`, an OpenGL camera frame (camera looks down -z).
- image: `ROT_180 @ world`, x right, y down, z away from the camera; the model's `R v` lives
  here (a frontal face is R = diag(1, -1, -1)). The ground-truth rotation is
  `(ROT_180 @ model_view)[:3, :3]`, as the DAD-3DHeads benchmark takes it.
- pixels: `projection_matrix @ world`, divided by w, then y flipped (`height - y`)."""
import json
import os
import pickle

import numpy as np
import torch

ROT_180 = np.diag([1.0, -1.0, -1.0, 1.0])
# The 7 landmarks of the RingNet/NoW rigid alignment, as indices into the 68 (eye corners,
# nose tip, mouth corners): the DAD-3DHeads benchmark's Chamfer alignment.
SEVEN_OF_68 = [36, 39, 42, 45, 33, 48, 54]


def gt_rotation(model_view):
    """(..., 4, 4) model-view -> (..., 3, 3) rotation in the image frame (the benchmark's R_gt)."""
    mv = np.asarray(model_view, dtype=np.float64)
    return (ROT_180 @ mv)[..., :3, :3]


def to_world(vertices, model_view):
    """(N, 3) model-frame vertices -> (N, 3) world (camera) frame."""
    v = np.asarray(vertices, dtype=np.float64)
    mv = np.asarray(model_view, dtype=np.float64)
    return v @ mv[:3, :3].T + mv[:3, 3]


def project_to_pixels(world, projection, height):
    """(N, 3) world points -> (N, 2) image pixels (x right, y down), DAD-3DHeads' projection."""
    w = np.asarray(world, dtype=np.float64)
    h = np.concatenate([w, np.ones_like(w[:, :1])], 1) @ np.asarray(projection, dtype=np.float64).T
    xy = h[:, :2] / h[:, 3:4]
    return np.stack([xy[:, 0], height - xy[:, 1]], 1)


def wrap_degrees(d):
    """Angles (tensor or array) to (-180, 180]."""
    return d - 360.0 * torch.ceil((d - 180.0) / 360.0) if torch.is_tensor(d) else d - 360.0 * np.ceil((d - 180.0) / 360.0)


def euler_angles(R):
    """(..., 3, 3) image-frame rotations -> (..., 3) [pitch, yaw, roll] in degrees, differentiable.

    The same angles as `trans3dhead_ref.flame.pose_angles` (DAD-3DNet's calculate_rpy: SciPy's
    extrinsic "xyz" angles of R^T, pitch = x - 180) away from gimbal lock (|yaw| = 90): with
    R^T = Rz(roll) Ry(yaw) Rx(x), x = atan2(R[1,2], R[2,2]), so pitch = x - 180 =
    atan2(-R[1,2], -R[2,2]); yaw = asin(-R[0,2]); roll = atan2(R[0,1], R[0,0])."""
    pitch = torch.atan2(-R[..., 1, 2], -R[..., 2, 2])
    yaw = torch.atan2(-R[..., 0, 2], torch.sqrt(R[..., 0, 0] ** 2 + R[..., 0, 1] ** 2 + 1e-12))
    roll = torch.atan2(R[..., 0, 1], R[..., 0, 0])
    return torch.rad2deg(torch.stack([pitch, yaw, roll], -1))


def normalize_to_cube(v):
    """(B, N, 3) -> the points' bounding box centred at 0 and scaled so that its largest
    half-extent is 1 (DAD-3DNet's normalisation for the 3D vertex loss)."""
    lo, hi = v.min(1, keepdim=True)[0], v.max(1, keepdim=True)[0]
    half = (hi - lo) / 2
    return (v - (lo + half)) / half.amax(-1, keepdim=True).clamp_min(1e-12)


class LandmarkEmbedding:
    """68 points on a mesh: face index and barycentric coordinates per landmark; optionally
    FLAME's dynamic contour, (79, 17) faces and (79, 17, 3) barycentrics, one row per yaw bin
    (flame_dynamic_embedding.npy). `idx[:17]` is that table's row 0 (zero pose): the points
    DAD-3DHeads' get_68_landmarks defines, and what `points` returns without `rows`."""

    def __init__(self, faces, lmk_faces_idx, lmk_bary_coords, dyn_faces_idx=None, dyn_bary_coords=None):
        self.faces = np.asarray(faces, dtype=np.int64)
        self.idx = np.asarray(lmk_faces_idx, dtype=np.int64).reshape(-1)
        self.bary = np.asarray(lmk_bary_coords, dtype=np.float64).reshape(-1, 3)
        if len(self.idx) != 68 or len(self.bary) != 68:
            raise ValueError(f"landmark embedding has {len(self.idx)} faces / {len(self.bary)} barycentric rows; need 68")
        if self.idx.max() >= len(self.faces) or self.idx.min() < 0:
            raise ValueError(f"landmark embedding refers to face {self.idx.max()}, the mesh has {len(self.faces)}")
        self.dyn_idx = self.dyn_bary = None
        if dyn_faces_idx is not None:
            self.dyn_idx = np.asarray(dyn_faces_idx, dtype=np.int64)
            self.dyn_bary = np.asarray(dyn_bary_coords, dtype=np.float64)
            if self.dyn_idx.shape != (79, 17) or self.dyn_bary.shape != (79, 17, 3):
                raise ValueError(f"dynamic contour embedding: expected (79, 17) faces and (79, 17, 3) barycentrics "
                                 f"(one row per yaw degree, -39..39), got {self.dyn_idx.shape} and {self.dyn_bary.shape}")
            if self.dyn_idx.max() >= len(self.faces) or self.dyn_idx.min() < 0:
                raise ValueError(f"dynamic contour embedding refers to face {self.dyn_idx.max()}, the mesh has {len(self.faces)}")

    def contour_rows(self, rotation, global_pose=None, neck_pose=None):
        """FLAME's yaw row per item for image-frame head rotations (B, 3, 3) (tensors), as
        trans3dhead_ref.flame.dynamic_contour_rows (and the engine's landmarks3d) pick it."""
        from trans3dhead_ref.flame import dynamic_contour_rows
        return dynamic_contour_rows(rotation, global_pose, neck_pose)

    def points(self, vertices, rows=None):
        """(..., V, 3) array or tensor -> (..., 68, 3). `rows` (B,) (e.g. from contour_rows) picks
        each item's contour from the dynamic table for vertices (B, V, 3); without it, row 0."""
        idx, bary = self.idx, self.bary
        if rows is not None:
            if self.dyn_idx is None:
                raise ValueError("contour rows given, but this embedding has no dynamic contour table "
                                 "(pass flame_dynamic_embedding.npy)")
            rows = np.asarray(rows.cpu() if torch.is_tensor(rows) else rows, dtype=np.int64).reshape(-1)
            n = len(rows)
            idx = np.concatenate([self.dyn_idx[rows], np.broadcast_to(self.idx[17:], (n, 51))], 1)      # (B, 68)
            bary = np.concatenate([self.dyn_bary[rows], np.broadcast_to(self.bary[17:], (n, 51, 3))], 1)  # (B, 68, 3)
        tri = self.faces[idx]  # (68, 3) or (B, 68, 3)
        if torch.is_tensor(vertices):
            b = torch.as_tensor(bary, dtype=vertices.dtype, device=vertices.device)
            t = torch.as_tensor(tri, device=vertices.device)
            g = vertices[..., t, :] if rows is None else vertices[torch.arange(len(t), device=vertices.device)[:, None, None], t]
            return (g * b[..., None]).sum(-2)
        v = np.asarray(vertices)
        g = v[..., tri, :] if rows is None else v[np.arange(len(tri))[:, None, None], tri]
        return (g * bary[..., None]).sum(-2)


def _load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def load_landmark_embedding(faces, path=None, dynamic_path=None, flame=None):
    """The 68-landmark embedding, from (first that applies):
    - `path` with 68 entries: a pickle/npz/json with `lmk_faces_idx`/`lmk_face_idx` and
      `lmk_bary_coords`/`lmk_b_coords` (FLAME's landmark_embedding.pkl, our FLAME .npz);
    - `path` with 51 entries (DAD-3DHeads' flame_static_embedding.pkl) plus `dynamic_path`
      (flame_dynamic_embedding.npy): the 17 contour points of the dynamic table's first row,
      the row FLAME picks at zero neck/global pose, then the 51: what DAD-3DHeads'
      `get_68_landmarks` computes; the whole (79-row) table is kept for `points(..., rows)`;
    - `flame`: canonical FLAME arrays that carry `lmk_faces_idx`/`lmk_bary_coords` (and
      `dynamic_lmk_faces_idx`/`dynamic_lmk_bary_coords` when they have the contour table)."""
    if path is None:
        if flame is not None and "lmk_faces_idx" in flame:
            return LandmarkEmbedding(faces, flame["lmk_faces_idx"], flame["lmk_bary_coords"],
                                     flame.get("dynamic_lmk_faces_idx"), flame.get("dynamic_lmk_bary_coords"))
        raise ValueError("no 68-landmark embedding: pass the FLAME landmark embedding file "
                         "(landmark_embedding.pkl / .npz with 68 points, or DAD-3DHeads' "
                         "flame_static_embedding.pkl together with flame_dynamic_embedding.npy)")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        d = dict(np.load(path, allow_pickle=False))
    elif ext == ".json":
        with open(path) as f:
            d = json.load(f)
    elif ext == ".npy":
        d = np.load(path, allow_pickle=True, encoding="latin1")[()]
    else:
        d = _load_pickle(path)
    if hasattr(d, "__dict__") and not isinstance(d, dict):
        d = vars(d)
    if "full_lmk_faces_idx" in d:  # FLAME_PyTorch's landmark_embedding.npy: 68 at zero pose
        d = {"lmk_faces_idx": d["full_lmk_faces_idx"], "lmk_bary_coords": d["full_lmk_bary_coords"]}
    idx, bary = d.get("lmk_faces_idx", d.get("lmk_face_idx")), d.get("lmk_bary_coords", d.get("lmk_b_coords"))
    if idx is None or bary is None:
        raise ValueError(f"{path}: no landmark embedding inside (looked for lmk_faces_idx/lmk_face_idx and "
                         f"lmk_bary_coords/lmk_b_coords or full_lmk_faces_idx; found {sorted(d)[:10]})")
    idx, bary = np.asarray(idx).reshape(-1), np.asarray(bary).reshape(-1, 3)
    if len(idx) == 51:
        if dynamic_path is None:
            raise ValueError(f"{path} has the 51 static landmarks only: also pass the dynamic contour "
                             "embedding (DAD-3DHeads' flame_dynamic_embedding.npy) for the 17 contour points")
        dyn = np.load(dynamic_path, allow_pickle=True, encoding="latin1")[()]
        # The published file holds lists of per-row arrays; np.asarray stacks them.
        table_idx, table_bary = np.asarray(dyn["lmk_face_idx"]), np.asarray(dyn["lmk_b_coords"])
        didx, dbary = table_idx[0].reshape(-1), table_bary[0].reshape(-1, 3)
        idx, bary = np.concatenate([didx, idx]), np.concatenate([dbary, bary])
        return LandmarkEmbedding(faces, idx, bary, table_idx, table_bary)
    return LandmarkEmbedding(faces, idx, bary)


def load_indices(path, num_vertices=None, name="subset"):
    """A vertex subset (DAD-3DHeads' head.npy / head_indices.npy / face.npy, or a JSON/text list)."""
    if path is None:
        raise ValueError(f"the '{name}' vertex subset is needed: pass its file (for FLAME, DAD-3DHeads' "
                         "model_training/model/static/flame_indices/head.npy, head_indices.npy (Z5) "
                         "and flame_indices/face.npy; they are FLAME-licensed and not shipped here)")
    if not os.path.exists(path):
        raise FileNotFoundError(f"'{name}' vertex subset {path} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        a = np.load(path, allow_pickle=False)
    elif ext == ".json":
        with open(path) as f:
            a = np.asarray(json.load(f))
    else:
        a = np.loadtxt(path, dtype=np.int64)
    a = np.asarray(a, dtype=np.int64).reshape(-1)
    if num_vertices is not None and (a.min() < 0 or a.max() >= num_vertices):
        raise ValueError(f"'{name}' subset {path} has index {a.max()}: the mesh has {num_vertices} vertices")
    return a
