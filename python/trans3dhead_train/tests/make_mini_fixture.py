#!/usr/bin/env python3
"""Writes test/fixtures/dad3dheads-mini/ (committed, a few KB): two items in the DAD-3DHeads
layout on a toy 70-vertex mesh, for the reader test (test_dataset.py). Deterministic.

Mesh: vertex i < 68 at (i % 10 - 4.5, i // 10 - 3, 0) / 10 plus (0, 0, -0.2) and
(0, 0, 0.2); face i = (i, 68, 69); the embedding (mini_embedding.json) puts landmark i on
vertex i exactly (barycentric (1, 0, 0)). Camera: model-view = [R | (0, 0, -2)],
projection: focal 100 px, centre (W/2, H/2), so x = 100 X / 2 + W/2 and y = H/2 - 100 Y / 2
for the frontal item."""
import json
import os

import numpy as np
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "fixtures", "dad3dheads-mini"))


def mesh():
    v = [[(i % 10 - 4.5) / 10, (i // 10 - 3) / 10, 0.0] for i in range(68)] + [[0, 0, -0.2], [0, 0, 0.2]]
    faces = [[i, 68, 69] for i in range(68)]
    return np.array(v), faces


def projection(W, H, f=100.0):
    n, fa = 0.1, 100.0
    return [[f, 0, -W / 2, 0], [0, f, -H / 2, 0], [0, 0, -(fa + n) / (fa - n), -2 * fa * n / (fa - n)], [0, 0, -1, 0]]


def main():
    d = os.path.join(ROOT, "DAD-3DHeadsDataset", "train")
    os.makedirs(os.path.join(d, "images"), exist_ok=True)
    os.makedirs(os.path.join(d, "annotations"), exist_ok=True)
    v, faces = mesh()
    W, H = 48, 40
    # Image: a horizontal ramp in red, a vertical one in green, blue constant 7.
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([xx * 5, yy * 6, np.full_like(xx, 7)], -1).astype(np.uint8)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    items = []
    for n, (iid, mv_rot) in enumerate([("frontal", np.eye(3)), ("turned", np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]))]):
        Image.fromarray(img).save(os.path.join(d, "images", f"{iid}.png"), optimize=True)
        mv = np.eye(4)
        mv[:3, :3] = mv_rot
        mv[:3, 3] = [0, 0, -2]
        ann = {"vertices": v.round(4).tolist(), "model_view_matrix": mv.round(6).tolist(), "projection_matrix": projection(W, H)}
        with open(os.path.join(d, "annotations", f"{iid}.json"), "w") as f:
            json.dump(ann, f, separators=(",", ":"))
        item = {"item_id": iid, "bbox": [10, 8, 24, 20], "attributes": {"pose": "front" if n == 0 else "sided"}}
        if n == 0:  # as DAD-3DHeads writes them: relative to the folder holding DAD-3DHeadsDataset
            item.update(img_path=f"DAD-3DHeadsDataset/train/images/{iid}.png",
                        annotation_path=f"DAD-3DHeadsDataset/train/annotations/{iid}.json")
        items.append(item)  # the second item has no paths: the reader falls back to images/<id>.png
    with open(os.path.join(d, "train.json"), "w") as f:
        json.dump(items, f)
    with open(os.path.join(ROOT, "mini_embedding.json"), "w") as f:
        json.dump({"faces": faces, "lmk_faces_idx": list(range(68)), "lmk_bary_coords": [[1, 0, 0]] * 68}, f)


if __name__ == "__main__":
    main()
