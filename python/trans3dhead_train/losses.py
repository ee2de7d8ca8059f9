"""The paper's loss (eq. 8): L = 300 L_lmk + 50 L_3D + 0.05 L_reproj + 0.05 L_euler.

Each term follows DAD-3DNet's counterpart where the paper names it:
- L_lmk: Smooth-L1 (PyTorch's, beta 1, mean) between predicted and true 68 landmarks in
  normalised crop coordinates (crop pixels / image_size), the MARR output.
- L_3D: mean squared error between the "head" vertices of prediction and truth in the model
  frame (prediction: FLAME from the predicted shape/expression/jaw, no rotation, no scale),
  each set normalised to the unit cube (geometry.normalize_to_cube) first.
- L_reproj: Smooth-L1 (beta 1, mean) between projected "head" vertices, crop pixels.
- L_euler: Smooth-L1 (beta 1, mean) on the wrapped difference, in degrees, between the
  Euler angles (pitch, yaw, roll) of the predicted rotation and the true ones.
The FLAME layer is fixed (buffers only). Deep supervision (ours, configurable): MARR's
intermediate outputs avg_face + sum_{l' <= l} residual_l' for l < last get the same landmark
loss (term `lmk_aux`), and optionally the 3DMM head on every intermediate layer gets the
3D/reprojection/Euler terms (`params_aux`), as DETR's auxiliary decoding losses."""
import torch
import torch.nn.functional as F
from torch import nn

from .geometry import euler_angles, normalize_to_cube, wrap_degrees

PAPER_WEIGHTS = {"lmk": 300.0, "3d": 50.0, "reproj": 0.05, "euler": 0.05}


def landmark_loss(pred_norm, gt_norm, beta=1.0):
    return F.smooth_l1_loss(pred_norm, gt_norm, beta=beta)


def vertex3d_loss(pred_model, gt_model, idx):
    return F.mse_loss(normalize_to_cube(pred_model[:, idx]), normalize_to_cube(gt_model[:, idx]))


def reprojection_loss(pred_proj, gt_proj, idx, beta=1.0):
    return F.smooth_l1_loss(pred_proj[:, idx], gt_proj[:, idx], beta=beta)


def euler_loss(pred_R, gt_angles, beta=1.0):
    d = wrap_degrees(euler_angles(pred_R) - gt_angles)
    return F.smooth_l1_loss(d, torch.zeros_like(d), beta=beta)


def landmark_layers(model, out):
    """MARR per layer: [avg_face + sum_{l' <= l} residual_heads[l'](out[l'])] normalised, (B, 68, 2)."""
    br = model.landmark_branch
    acc, res = br.avg_face, []
    for head, o in zip(br.residual_heads, out["landmark_out"]):
        acc = acc + head(o)
        res.append(acc)
    return res


class Trans3DHeadLoss(nn.Module):
    def __init__(self, flame_layer, head_idx, image_size=256, weights=None, beta=None,
                 deep_supervision=True, aux_params=False):
        super().__init__()
        self.flame = flame_layer
        self.register_buffer("head_idx", torch.as_tensor(head_idx, dtype=torch.long))
        self.image_size = image_size
        self.w = dict(PAPER_WEIGHTS, **(weights or {}))
        self.beta = dict({"lmk": 1.0, "reproj": 1.0, "euler": 1.0}, **(beta or {}))
        self.deep_supervision, self.aux_params = deep_supervision, aux_params

    def _params_terms(self, params, batch):
        f = self.flame(params)
        return {
            "3d": vertex3d_loss(f["flame_vertices"], batch["vertices"], self.head_idx),
            "reproj": reprojection_loss(f["projected"], batch["projected"], self.head_idx, self.beta["reproj"]),
            "euler": euler_loss(f["rotation"], batch["angles"], self.beta["euler"]),
        }

    def forward(self, model, out, batch):
        """-> (total, {term: unweighted value}) ; total = sum of weighted terms."""
        gt_lmk = batch["landmarks"] / self.image_size
        terms = {"lmk": landmark_loss(out["landmarks"] / self.image_size, gt_lmk, self.beta["lmk"])}
        terms.update(self._params_terms(out["params"], batch))
        total = sum(self.w[k] * terms[k] for k in ("lmk", "3d", "reproj", "euler"))
        if self.deep_supervision and out["landmark_out"].shape[0] > 1:
            aux = sum(landmark_loss(p, gt_lmk, self.beta["lmk"]) for p in landmark_layers(model, out)[:-1])
            terms["lmk_aux"] = aux
            total = total + self.w["lmk"] * aux
        if self.aux_params and out["params_out"].shape[0] > 1:
            aux = 0.0
            for o in out["params_out"][:-1]:
                t = self._params_terms(model.params_branch.head(o).squeeze(-1), batch)
                aux = aux + sum(self.w[k] * t[k] for k in ("3d", "reproj", "euler"))
            terms["params_aux"] = aux
            total = total + aux
        return total, terms
