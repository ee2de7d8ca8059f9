"""A synthetic dataset in the DAD-3DHeads format, rendered from a FLAME with exact labels.

For testing the training code where the real data is absent. It is NOT a substitute for
DAD-3DHeads: the heads are smooth shaded meshes (the synthetic FLAME is an ellipsoid with a
nose) with painted features over random backgrounds; a model trained on it learns nothing
about real faces.

Per item: random shape / expression / jaw, a head pose (pitch, yaw, roll), a perspective
camera (narrow field of view, as a distant photo), a random image size; the mesh is
z-buffered by a small numpy rasteriser at 2x and box-filtered, Gouraud-shaded with one
directional light, over a background drawn from gradients, smooth noise, shapes and stripes.
The annotation holds the model-frame vertices (FLAME's output, no offset), the model-view
matrix (the image-frame rotation R = diag(1,-1,-1) @ MV[:3,:3] with the drawn angles) and a
projection matrix that maps world points to pixels with y up, as DAD-3DHeads' do."""
import json
import os
import zlib

import numpy as np
import torch
from PIL import Image

from trans3dhead_ref.flame import FlameLayer

from .geometry import ROT_180, project_to_pixels, to_world

N_SHAPE, N_EXPR = 300, 100


def rotation_from_angles(pitch, yaw, roll):
    """Image-frame R with euler_angles(R) = (pitch, yaw, roll) degrees: R^T = Rz(roll) Ry(yaw) Rx(pitch + 180)."""
    a, b, c = np.radians([pitch + 180.0, yaw, roll])
    Rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    Ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    Rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return (Rz @ Ry @ Rx).T


def synthetic_subsets(flame):
    """Vertex subsets of the synthetic FLAME (template frame: y up, face towards +z):
    head = everything above the neck; face = the front of the head between chin and brows."""
    v = np.asarray(flame["v_template"], np.float64)
    head = np.nonzero(v[:, 1] > -0.06)[0]
    face = np.nonzero((v[:, 1] > -0.06) & (v[:, 1] < 0.045) & (v[:, 2] > 0.03))[0]
    return {"head": head, "head_z5": head, "face": face}


def rasterize(px, depth, faces, colors, H, W):
    """px (V, 2) pixel positions (x right, y down, pixel i covers [i, i+1)), depth (V,) larger =
    farther, faces (F, 3), colors (V, 3) -> (H, W, 3) float image and (H, W) coverage mask.
    Nearest surface wins (z-buffer); colours interpolated barycentrically."""
    img = np.zeros((H * W, 3))
    tri = px[faces]                                   # (F, 3, 2)
    lo = np.floor(tri.min(1)).astype(np.int64)
    hi = np.ceil(tri.max(1)).astype(np.int64)
    keep = (hi[:, 0] > 0) & (hi[:, 1] > 0) & (lo[:, 0] < W) & (lo[:, 1] < H)
    best = np.full(H * W, np.inf)
    for chunk in np.array_split(np.nonzero(keep)[0], max(1, int(keep.sum()) // 2000)):
        if len(chunk) == 0:
            continue
        K = int(max(1, (hi[chunk] - lo[chunk]).max()))
        o = np.arange(K)
        gx = lo[chunk, 0][:, None, None] + o[None, None, :]
        gy = lo[chunk, 1][:, None, None] + o[None, :, None]
        cx, cy = gx + 0.5, gy + 0.5                   # pixel centres
        a, b, c = (tri[chunk, j][:, None, None, :] for j in range(3))
        area = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
        ok_area = np.abs(area) > 1e-12
        area = np.where(ok_area, area, 1.0)
        w0 = ((b[..., 0] - cx) * (c[..., 1] - cy) - (b[..., 1] - cy) * (c[..., 0] - cx)) / area
        w1 = ((c[..., 0] - cx) * (a[..., 1] - cy) - (c[..., 1] - cy) * (a[..., 0] - cx)) / area
        w2 = 1 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & ok_area & (gx >= 0) & (gy >= 0) & (gx < W) & (gy < H)
        f, iy, ix = np.nonzero(inside)
        if len(f) == 0:
            continue
        bw = np.stack([w0[f, iy, ix], w1[f, iy, ix], w2[f, iy, ix]], 1)
        vid = faces[chunk[f]]                          # (n, 3)
        z = (bw * depth[vid]).sum(1)
        pix = gy[f, iy, 0] * W + gx[f, 0, ix]
        order = np.lexsort((z, pix))                   # per pixel, nearest first
        pix, z, bw, vid = pix[order], z[order], bw[order], vid[order]
        first = np.unique(pix, return_index=True)[1]
        pix, z, bw, vid = pix[first], z[first], bw[first], vid[first]
        win = z < best[pix]
        pix, z, bw, vid = pix[win], z[win], bw[win], vid[win]
        best[pix] = z
        img[pix] = (bw[..., None] * colors[vid]).sum(1)
    mask = np.isfinite(best)
    return img.reshape(H, W, 3), mask.reshape(H, W)


def background(rng, H, W):
    kind = rng.integers(4)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
    if kind == 0:                                      # linear gradient
        ang = rng.uniform(0, 2 * np.pi)
        t = (np.cos(ang) * xx + np.sin(ang) * yy)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        return c0 * (1 - t[..., None]) + c1 * t[..., None]
    if kind == 1:                                      # smooth noise
        s = rng.integers(3, 9)
        small = rng.uniform(0, 255, (s, s, 3)).astype(np.float32)
        return np.asarray(Image.fromarray(small.astype(np.uint8)).resize((W, H), Image.BICUBIC), np.float64)
    img = np.ones((H, W, 3)) * c0
    if kind == 2:                                      # shapes
        for _ in range(rng.integers(3, 10)):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.4)
            col = rng.uniform(0, 255, 3)
            if rng.uniform() < 0.5:
                m = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            else:
                m = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r * rng.uniform(0.3, 1.5))
            img[m] = col
        return img
    period, ang = rng.uniform(0.03, 0.2), rng.uniform(0, np.pi)   # stripes
    t = (np.sin((np.cos(ang) * xx + np.sin(ang) * yy) * 2 * np.pi / period) > 0)
    img[t] = c1
    return img


def vertex_albedo(flame, rng, lm_template):
    """Skin tone with painted eyes, brows and lips (so the landmarks have something to see)."""
    v = np.asarray(flame["v_template"], np.float64)
    skin = np.array([rng.uniform(120, 240), rng.uniform(80, 190), rng.uniform(60, 160)])
    col = np.tile(skin, (len(v), 1)) * (1 + 0.05 * np.sin(v @ rng.normal(0, 60, (3, 3))))
    dark = rng.uniform(0.15, 0.45)
    lips = np.array([rng.uniform(120, 200), rng.uniform(30, 90), rng.uniform(40, 100)])
    def near(ids, r):
        d = np.linalg.norm(v[:, None, :] - lm_template[None, ids, :], axis=-1).min(1)
        return d < r
    col[near(range(17, 27), 0.006)] *= dark              # brows
    col[near(range(36, 48), 0.007)] = [235, 235, 235]     # eye whites
    eye_c = [lm_template[36:42].mean(0), lm_template[42:48].mean(0)]
    for c in eye_c:
        col[np.linalg.norm(v - c, axis=1) < 0.005] = [40, 30, 25]  # irises
    col[near(range(48, 60), 0.005)] = lips
    col[near(range(27, 36), 0.004)] *= 0.85              # nose line
    col[v[:, 1] < -0.06] *= 0.8                           # neck a little darker
    return col


def render_item(layer, flame, rng, embedding, size_range=(160, 256), pose_range=(30, 70, 25)):
    """One synthetic item -> (image uint8 (H, W, 3), annotation dict, bbox, attributes)."""
    H, W = (int(rng.integers(size_range[0], size_range[1] + 1)) for _ in range(2))
    params = np.zeros((1, N_SHAPE + N_EXPR + 13), np.float32)
    params[0, :N_SHAPE] = rng.normal(0, 0.3, N_SHAPE)
    params[0, N_SHAPE:N_SHAPE + N_EXPR] = rng.normal(0, 0.5, N_EXPR) * rng.uniform(0, 1)
    params[0, N_SHAPE + N_EXPR] = rng.uniform(0, 0.3)              # jaw opening (x axis)
    params[0, N_SHAPE + N_EXPR + 1:N_SHAPE + N_EXPR + 3] = rng.normal(0, 0.03, 2)
    params[0, N_SHAPE + N_EXPR + 3:N_SHAPE + N_EXPR + 9] = [1, 0, 0, 0, -1, 0]
    with torch.no_grad():
        v = layer(torch.from_numpy(params))["flame_vertices"][0].double().numpy()
    v = v - np.array([0.0, 0.0, 0.05])                                # FLAME's own output
    pitch, yaw, roll = (rng.uniform(-r, r) for r in pose_range)
    R = rotation_from_angles(pitch, yaw, roll)
    mv = np.eye(4)
    mv[:3, :3] = ROT_180[:3, :3] @ R
    f = rng.uniform(3.0, 6.0) * max(H, W)                             # focal length, pixels
    d = f * 0.2 / (rng.uniform(0.4, 0.65) * min(H, W))                # head ~0.2 units wide
    mv[:3, 3] = [rng.uniform(-0.1, 0.1) * d * W / f, rng.uniform(-0.1, 0.1) * d * H / f, -d]
    near_, far_ = 0.1, 100.0
    proj = np.array([[f, 0, -W / 2, 0], [0, f, -H / 2, 0],
                     [0, 0, -(far_ + near_) / (far_ - near_), -2 * far_ * near_ / (far_ - near_)],
                     [0, 0, -1, 0]])
    world = to_world(v, mv)
    px = project_to_pixels(world, proj, H)
    # Shading in the world frame: vertex normals from the faces, Lambert + ambient.
    faces = np.asarray(flame["faces"], np.int64)
    fn = np.cross(world[faces[:, 1]] - world[faces[:, 0]], world[faces[:, 2]] - world[faces[:, 0]])
    vn = np.zeros_like(world)
    for j in range(3):
        np.add.at(vn, faces[:, j], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    if (vn * (world - world.mean(0))).sum() < 0:  # whatever the winding, normals point outwards
        vn = -vn
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.2, 0.7), 1.0])
    light /= np.linalg.norm(light)
    shade = rng.uniform(0.25, 0.45) + rng.uniform(0.55, 0.8) * np.clip(vn @ light, 0, 1)
    lm_template = embedding.points(np.asarray(flame["v_template"], np.float64))
    colors = vertex_albedo(flame, rng, lm_template) * shade[:, None]
    img2, mask2 = rasterize(px * 2, -world[:, 2], faces, colors, H * 2, W * 2)
    img = img2.reshape(H, 2, W, 2, 3).mean((1, 3))
    cov = mask2.reshape(H, 2, W, 2).mean((1, 3))[..., None]
    out = background(rng, H, W) * (1 - cov) + img * cov
    out = np.clip(out + rng.normal(0, rng.uniform(0, 4), out.shape), 0, 255).astype(np.uint8)
    head = synthetic_subsets(flame)["head"]
    lo, hi = px[head].min(0), px[head].max(0)
    bbox = [int(np.floor(lo[0])), int(np.floor(lo[1])), int(np.ceil(hi[0] - np.floor(lo[0]))),
            int(np.ceil(hi[1] - np.floor(lo[1])))]
    ann = {"vertices": np.round(v, 6).tolist(), "model_view_matrix": mv.tolist(), "projection_matrix": proj.tolist()}
    pose = "front" if abs(yaw) < 20 and abs(pitch) < 20 else "sided"
    attrs = {"pose": pose, "synthetic": True}
    return out, ann, bbox, attrs


def write_dataset(out_dir, flame, embedding, counts, seed=0, size_range=(160, 256), log=print):
    """Writes <out_dir>/DAD-3DHeadsDataset/<split>/... for counts = {"train": n, "val": m}
    and <out_dir>/subsets/{head,head_z5,face}.npy."""
    layer = FlameLayer(flame, N_SHAPE, N_EXPR, 256)
    for split, n in counts.items():
        d = os.path.join(out_dir, "DAD-3DHeadsDataset", split)
        os.makedirs(os.path.join(d, "images"), exist_ok=True)
        os.makedirs(os.path.join(d, "annotations"), exist_ok=True)
        items = []
        for i in range(n):
            rng = np.random.default_rng([seed, zlib.crc32(split.encode()), i])
            img, ann, bbox, attrs = render_item(layer, flame, rng, embedding, size_range)
            iid = f"{split}_{i:06d}"
            Image.fromarray(img).save(os.path.join(d, "images", f"{iid}.png"))
            with open(os.path.join(d, "annotations", f"{iid}.json"), "w") as f:
                json.dump(ann, f, separators=(",", ":"))
            items.append({"item_id": iid, "img_path": f"DAD-3DHeadsDataset/{split}/images/{iid}.png",
                          "annotation_path": f"DAD-3DHeadsDataset/{split}/annotations/{iid}.json",
                          "bbox": bbox, "attributes": attrs})
            if log and (i + 1) % 50 == 0:
                log(f"{split}: {i + 1}/{n}")
        with open(os.path.join(d, f"{split}.json"), "w") as f:
            json.dump(items, f, indent=0)
    sub = os.path.join(out_dir, "subsets")
    os.makedirs(sub, exist_ok=True)
    for k, idx in synthetic_subsets(flame).items():
        np.save(os.path.join(sub, f"{k}.npy"), idx.astype(np.int64))
