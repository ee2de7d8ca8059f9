"""Seeded "trained-like" weights for parity fixtures (no trained Trans3DHead exists).

Random weights alone give degenerate activations (BatchNorm with unit stats on inputs of any
scale, landmarks far outside the crop, huge 3DMM parameters), which would hide bugs behind
NaNs or saturation. So: BatchNorm running stats are calibrated on real images, and the two
heads are set so the outputs look like a network's: landmarks near a mean face inside the
crop, small 3DMM parameters with a near-frontal rotation."""
import math
import os

import numpy as np
import torch
from torch import nn

SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"
CALIBRATION_FILES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]


def face_layout_68():
    """iBUG 68-point layout (u right, w down, roughly [-1, 1]) of a frontal face:
    jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, outer lips 48-59, inner lips 60-67."""
    p = []
    for i in range(17):
        t = math.pi * i / 16
        p.append((-0.85 * math.cos(t), -0.15 + 1.0 * math.sin(t)))
    for s in (-1, 1):
        for j in range(5):
            u = 0.15 + 0.15 * j if s > 0 else -(0.75 - 0.15 * j)
            p.append((u, -0.55 - 0.1 * math.sin(math.pi * j / 4)))
    for j in range(4):
        p.append((0.0, -0.35 + 0.13 * j))
    for j in range(5):
        p.append((-0.2 + 0.1 * j, 0.17 - 0.02 * (2 - abs(j - 2))))
    for cx in (-0.4, 0.4):
        for a in (180, 120, 60, 0, -60, -120):
            a = math.radians(a)
            p.append((cx + 0.17 * math.cos(a), -0.3 - 0.07 * math.sin(a)))
    for j in range(12):
        a = math.radians(180 - 30 * j)
        p.append((0.4 * math.cos(a), 0.5 - 0.15 * math.sin(a)))
    for j in range(8):
        a = math.radians(180 - 45 * j)
        p.append((0.3 * math.cos(a), 0.5 - 0.06 * math.sin(a)))
    return np.array(p)


def avg_face():
    """(68, 2) mean face in normalised crop coordinates, inside [0.25, 0.8]."""
    p = face_layout_68()
    return np.stack([0.5 + 0.3 * p[:, 0], 0.5 + 0.28 * p[:, 1]], axis=1).astype(np.float32)


def calibration_batch(extra_images, size=256, seed=0):
    """A few natural images (skimage's samples, the given ones and their flips) plus one
    smooth random image, preprocessed like real inputs."""
    from PIL import Image
    from .preprocess import preprocess
    images = list(extra_images) + [im[:, ::-1] for im in extra_images]
    for name in CALIBRATION_FILES:
        path = os.path.join(SKIMAGE_DATA, name)
        if os.path.exists(path):
            images.append(np.array(Image.open(path).convert("RGB")))
    rng = np.random.default_rng(seed)
    smooth = rng.uniform(0, 255, (3, 16, 16)).astype(np.float32)
    smooth = torch.nn.functional.interpolate(torch.from_numpy(smooth)[None], size=(size, size), mode="bicubic")
    images.append(smooth[0].clamp(0, 255).permute(1, 2, 0).numpy().astype(np.uint8))
    return torch.cat([preprocess(np.ascontiguousarray(im), size)[0] for im in images])


def _uniform_(t, lo, hi):
    with torch.no_grad():
        t.uniform_(lo, hi)


@torch.no_grad()
def init_weights(model, seed, calib_images, photo_input):
    """Seeded initialisation of `model` (Trans3DHead), then calibration:
    calib_images: list of (h, w, 3) uint8 images for the BatchNorm statistics;
    photo_input: (B, 3, 256, 256) the fixture inputs, to set the heads on."""
    torch.manual_seed(seed)
    d = model.config["d_model"]

    # Backbone: torchvision's conv init; BatchNorm affine randomised so it is not identity.
    for m in model.backbone.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            _uniform_(m.weight, 0.5, 1.5)
            _uniform_(m.bias, -0.2, 0.2)
    nn.init.xavier_uniform_(model.input_proj.weight)
    _uniform_(model.input_proj.bias, -0.2, 0.2)

    # Decoders: DETR's xavier for matrices; biases and LayerNorm affine randomised (DETR
    # zeroes the attention biases, but zero biases would not test their handling).
    for branch in (model.params_branch, model.landmark_branch):
        for name, p in branch.named_parameters():
            if name.endswith("qamem.weight") or name.startswith(("query_embed", "query_init", "head", "residual_heads")):
                continue
            if "norm" in name:
                _uniform_(p, 0.8, 1.2) if name.endswith("weight") else _uniform_(p, -0.1, 0.1)
            elif p.dim() > 1:
                nn.init.xavier_uniform_(p)
            else:
                _uniform_(p, -0.2, 0.2)
        nn.init.normal_(branch.query_embed.weight)  # DETR: nn.Embedding's N(0, 1)
    lb = model.landmark_branch
    nn.init.normal_(lb.query_init.weight, std=1.0 / math.sqrt(d))
    _uniform_(lb.query_init.bias, -0.5, 0.5)
    for layer in lb.layers:
        q = layer.cross_attn.qamem
        n = q.weight.shape[0] // d
        eye = torch.eye(d).repeat(n, 1)[:, :, None]           # identity per query...
        q.weight.copy_(0.8 * eye + torch.randn_like(q.weight) * (0.4 / math.sqrt(d)))  # ...mixed
        _uniform_(q.bias, -0.1, 0.1)
    for mlp in lb.residual_heads:
        for lin in mlp.layers:
            nn.init.xavier_uniform_(lin.weight)
            _uniform_(lin.bias, -0.1, 0.1)
    lb.avg_face.copy_(torch.from_numpy(avg_face()))
    nn.init.normal_(model.params_branch.head.weight, std=1.0 / math.sqrt(d))
    model.params_branch.head.bias.zero_()

    # BatchNorm statistics: cumulative average (momentum=None) of batch stats in train mode
    # over natural images, as a trained network's running stats would be.
    x = calibration_batch(calib_images)
    bns = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.backbone.train()
    from .model import backbone_forward
    backbone_forward(model.backbone, x)
    for m in bns:
        m.momentum = 0.1
    model.eval()

    # MARR: scale each residual head's last layer so it moves landmarks ~1.5% of the crop.
    out = model(photo_input)
    for l, mlp in enumerate(lb.residual_heads):
        r = mlp(out["landmark_out"][l])
        k = 0.015 / float(r.std())
        mlp.layers[-1].weight.mul_(k)
        mlp.layers[-1].bias.mul_(k)

    # 3DMM head: ridge least squares on the photo's last-layer outputs so that the pose
    # parameters come out near targets (near-frontal 6D, small jaw/translation/scale) and
    # the 400 shape/expression ones stay small. One Linear(d, 1) is shared by all queries,
    # so only a fit can give each query its own value.
    gen = torch.Generator().manual_seed(seed + 1)
    X = out["params_out"][-1].double()                       # (B, 413, d)
    nq = X.shape[1]
    A = torch.cat([X, torch.ones(*X.shape[:2], 1, dtype=X.dtype)], dim=2).reshape(-1, X.shape[2] + 1)
    nb = model.config["flame"]["n_shape"] + model.config["flame"]["n_expr"]
    target = torch.randn(nq, generator=gen, dtype=X.dtype) * 0.3
    target[nb:] = torch.tensor([0.1, 0.0, 0.0,                  # jaw (opens the mouth a bit)
                                1.0, 0.05, -0.04, 0.03, -1.0, 0.06,  # 6D ~ frontal + noise
                                0.02, -0.03, 0.0,               # translation
                                0.05], dtype=X.dtype)           # scale
    wts = torch.full((nq,), 0.02, dtype=X.dtype)
    wts[nb:] = 100.0
    target, wts = target.repeat(X.shape[0]), wts.repeat(X.shape[0])  # same targets per image
    Aw = A * wts.sqrt()[:, None]
    ridge = 1e-3 * torch.eye(A.shape[1], dtype=X.dtype)
    theta = torch.linalg.solve(Aw.T @ Aw + ridge, Aw.T @ (target * wts.sqrt()))
    model.params_branch.head.weight.copy_(theta[:-1].float()[None])
    model.params_branch.head.bias.copy_(theta[-1:].float())
    return model
