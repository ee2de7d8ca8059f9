"""The DAD-3DHeads benchmark metrics and AFLW2000-3D's pose MAE, per sample, in numpy/torch.

Definitions (DAD-3DHeads benchmark, dad_3dheads_benchmark/benchmark.py and utils.py, re-derived):
- NME: mean over the 68 landmarks of the 2D distance (original image pixels) between the
  prediction and the ground truth, divided by sqrt(w * h) of the item's `bbox`, times 100.
  The truth is the 68 landmarks of the annotated mesh (static + zero-pose contour embedding),
  moved by the model-view matrix, projected, y flipped.
- Z5 accuracy on the "head" subset (their head_indices.npy): the truth is the world-frame
  mesh with every coordinate negated (so z grows away from the camera, as in the image
  frame the prediction is given in); for each truth vertex its 5 nearest truth vertices
  (3D distance, itself excluded); the fraction of (vertex, neighbour) pairs whose
  "z_i >= z_j" agrees between truth and prediction.
- Chamfer: the world-frame truth scaled so that its inner eye corners (68-landmarks 39 and
  42) are 20 apart; the prediction (all its vertices) aligned to the truth by a similarity
  Procrustes on the 7 landmarks (36, 39, 42, 45, 33, 48, 54), reflection allowed as in the
  benchmark; then the mean over the truth's "face" subset (flame_indices/face.npy) of the
  SQUARED distance to the nearest aligned predicted vertex (one-sided; kaolin's
  chamfer_distance with w1 = 1, w2 = 0).
- Pose error: ||I - R_pred R_gt^T||_F with R_gt = (diag(1,-1,-1,1) @ model_view)[:3, :3].
- AFLW2000-3D pose MAE: mean absolute error of pitch, yaw, roll in degrees (differences
  wrapped to (-180, 180]), and their mean."""
import numpy as np
import torch

from .geometry import SEVEN_OF_68, wrap_degrees


def nme(pred_2d, gt_2d, bbox):
    """(68, 2), (68, 2) image pixels, bbox (x, y, w, h) -> NME in percent."""
    d = np.linalg.norm(np.asarray(pred_2d, np.float64) - np.asarray(gt_2d, np.float64), axis=-1)
    return float(np.mean(d / np.sqrt(float(bbox[2]) * float(bbox[3]))) * 100.0)


def pose_error(R_pred, R_gt):
    """Frobenius norm of I - R_pred R_gt^T."""
    R_pred, R_gt = np.asarray(R_pred, np.float64), np.asarray(R_gt, np.float64)
    return float(np.linalg.norm(np.eye(3) - R_pred @ R_gt.T, "fro"))


def zn_accuracy(pred_head, gt_head, n=5):
    """(K, 3) predicted and (K, 3) truth points of one topology, both with z growing away from
    the camera -> Z_n accuracy in [0, 1]."""
    p = torch.as_tensor(np.asarray(pred_head), dtype=torch.float64)
    g = torch.as_tensor(np.asarray(gt_head), dtype=torch.float64)
    nb = torch.topk(torch.cdist(g, g), n + 1, dim=1, largest=False).indices[:, 1:]  # drop itself
    same = (g[:, 2:3] >= g[nb, 2]) == (p[:, 2:3] >= p[nb, 2])
    return float(same.double().mean())


def z5(pred_vertices, gt_world, head_idx):
    """Benchmark Z5: prediction in the image frame (the model's `vertices`), truth in the world frame."""
    return zn_accuracy(np.asarray(pred_vertices)[head_idx], -np.asarray(gt_world)[head_idx], 5)


def procrustes(X, Y):
    """Similarity (scale b, orthogonal T, translation c) with b * Y @ T + c ~ X, least squares;
    T may be a reflection (the benchmark does not force det(T) = +1)."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    mx, my = X.mean(0), Y.mean(0)
    X0, Y0 = X - mx, Y - my
    nx, ny = np.sqrt((X0 ** 2).sum()), np.sqrt((Y0 ** 2).sum())
    U, s, Vt = np.linalg.svd((X0 / nx).T @ (Y0 / ny))
    T = Vt.T @ U.T
    b = s.sum() * nx / ny
    return b, T, mx - b * my @ T


def chamfer(pred_vertices, pred_seven, gt_world, embedding, face_idx):
    """Benchmark Chamfer distance (squared units, truth scaled to an inner-eye distance of 20).

    pred_vertices (M, 3) any frame, pred_seven (7, 3) the prediction's 7 landmarks in the
    same frame; gt_world (V, 3); embedding: geometry.LandmarkEmbedding of the truth mesh."""
    g = np.asarray(gt_world, np.float64)
    lm = embedding.points(g)
    g = g * (20.0 / np.linalg.norm(lm[39] - lm[42]))
    seven = embedding.points(g)[SEVEN_OF_68]
    b, T, c = procrustes(seven, pred_seven)
    aligned = b * np.asarray(pred_vertices, np.float64) @ T + c
    d = torch.cdist(torch.from_numpy(g[face_idx]), torch.from_numpy(aligned))
    return float((d.min(1).values ** 2).mean())


def pose_mae(pred_angles, gt_angles):
    """(N, 3), (N, 3) [pitch, yaw, roll] degrees -> {"pitch", "yaw", "roll", "mean"} MAE."""
    e = np.abs(wrap_degrees(np.asarray(pred_angles, np.float64) - np.asarray(gt_angles, np.float64)))
    m = e.reshape(-1, 3).mean(0)
    return {"pitch": float(m[0]), "yaw": float(m[1]), "roll": float(m[2]), "mean": float(m.mean())}


def summarize(records, attributes=None):
    """records: list of {metric: value}; attributes: list of {name: value} per record (or None).
    -> {"overall": {metric: mean}, "attributes": {metric: {name: {value: mean}}}}"""
    names = sorted({k for r in records for k in r})
    out = {"overall": {k: float(np.mean([r[k] for r in records if k in r])) for k in names}, "attributes": {}}
    if attributes:
        for k in names:
            per = {}
            for r, a in zip(records, attributes):
                for an, av in (a or {}).items():
                    if k in r:
                        per.setdefault(an, {}).setdefault(str(av), []).append(r[k])
            out["attributes"][k] = {an: {av: float(np.mean(v)) for av, v in vals.items()} for an, vals in per.items()}
    return out
