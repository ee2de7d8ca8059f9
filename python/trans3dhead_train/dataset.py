"""A reader for data in the DAD-3DHeads format, with SPEC.md section 1's preprocessing.

Layout (as DAD-3DHeads ships it):
  <root>/DAD-3DHeadsDataset/<split>/<split>.json     list of items:
      {"item_id", "img_path", "annotation_path", "bbox": [x, y, w, h], "attributes": {...}}
  <root>/DAD-3DHeadsDataset/<split>/images/<item_id>.png
  <root>/DAD-3DHeadsDataset/<split>/annotations/<item_id>.json
      {"vertices": (V, 3) FLAME mesh in the model frame, "model_view_matrix": 4x4,
       "projection_matrix": 4x4}
`img_path`/`annotation_path` are relative to <root> (DAD-3DNet joins them to its dataset
root); we also accept them relative to the DAD-3DHeadsDataset or split folder, and fall back
to images/<item_id>.png and annotations/<item_id>.json. `root` may be <root> or the
DAD-3DHeadsDataset folder.

Per item: the head box extended on each side (a fixed 10 % for evaluation; uniform 5-15 %
per side when training, as DAD-3DNet) is cropped (zeros outside the image, SPEC sec. 1),
resized and padded to image_size, normalised. Labels go through the same map, so they stay
consistent with the pixels: crop = (image - box origin) * k + pad."""
import json
import os

import numpy as np
import torch
from PIL import Image

from trans3dhead_ref.preprocess import crop_box, preprocess

from .geometry import euler_angles, gt_rotation, project_to_pixels, to_world

DATASET_DIR = "DAD-3DHeadsDataset"
EVAL_EXTEND = 0.1
DEFAULT_AUGMENT = {"extend": [0.05, 0.15], "scale": [0.9, 1.1], "shift": 0.05,
                   "brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "grayscale": 0.05}


def _split_dir(root, split):
    for d in (os.path.join(root, DATASET_DIR, split), os.path.join(root, split)):
        if os.path.isfile(os.path.join(d, f"{split}.json")):
            return d
    raise FileNotFoundError(
        f"no {split}/{split}.json under {root} (or {root}/{DATASET_DIR}): point the data root at the folder "
        f"that holds {DATASET_DIR}/ (DAD-3DHeads' layout: {DATASET_DIR}/<split>/<split>.json, images/, annotations/)")


def _resolve(root, split_dir, rel, fallback):
    cands = []
    if rel:
        cands = [rel] if os.path.isabs(rel) else [os.path.join(b, rel) for b in
                                                  (root, os.path.dirname(split_dir), split_dir)]
    cands.append(fallback)
    for c in cands:
        if os.path.isfile(c):
            return c
    raise FileNotFoundError(f"none of {cands} exists")


def nearest_rotation(M):
    U, _, Vt = np.linalg.svd(np.asarray(M, np.float64))
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    return R


class DadHeads(torch.utils.data.Dataset):
    """Items: input (3, S, S); landmarks (68, 2) and projected (V, 2) in crop pixels;
    vertices (V, 3) model frame; rotation (3, 3) image frame; angles (3) [pitch, yaw, roll]
    degrees; transform (5) [k, pad_left, pad_top, box_x, box_y] to map crop pixels back
    (image = (crop - pad) / k + box); index."""

    def __init__(self, root, split, embedding, image_size=256, augment=None, seed=0):
        self.root, self.split = root, split
        self.split_dir = _split_dir(root, split)
        with open(os.path.join(self.split_dir, f"{split}.json")) as f:
            self.items = json.load(f)
        if not isinstance(self.items, list) or not self.items:
            raise ValueError(f"{self.split_dir}/{split}.json: expected a non-empty list of items")
        for i, it in enumerate(self.items):
            if "item_id" not in it or "bbox" not in it or len(it["bbox"]) != 4:
                raise ValueError(f"{split}.json item {i}: needs item_id and bbox [x, y, w, h]")
        self.embedding = embedding
        self.image_size = image_size
        self.augment = None if augment is None else dict(DEFAULT_AUGMENT, **augment)
        self.seed, self.epoch = seed, 0

    def __len__(self):
        return len(self.items)

    def set_epoch(self, epoch):
        """Augmentation draws depend on (seed, epoch, index): reproducible, and resume-safe."""
        self.epoch = epoch

    def image_path(self, i):
        it = self.items[i]
        return _resolve(self.root, self.split_dir, it.get("img_path"),
                        os.path.join(self.split_dir, "images", f"{it['item_id']}.png"))

    def annotation(self, i):
        """The raw annotation: vertices (V, 3), model_view (4, 4), projection (4, 4) float64."""
        it = self.items[i]
        path = _resolve(self.root, self.split_dir, it.get("annotation_path"),
                        os.path.join(self.split_dir, "annotations", f"{it['item_id']}.json"))
        with open(path) as f:
            a = json.load(f)
        for k in ("vertices", "model_view_matrix", "projection_matrix"):
            if k not in a:
                raise ValueError(f"{path}: no '{k}' (a DAD-3DHeads annotation has vertices, model_view_matrix, projection_matrix)")
        v = np.asarray(a["vertices"], np.float64).reshape(-1, 3)
        return v, np.asarray(a["model_view_matrix"], np.float64), np.asarray(a["projection_matrix"], np.float64)

    def gt_image_space(self, i, height):
        """Truth in the original image: landmarks (68, 2) and all vertices (V, 2) in pixels,
        world vertices (V, 3), R_gt (3, 3) as the benchmark takes it."""
        v, mv, proj = self.annotation(i)
        world = to_world(v, mv)
        return {"landmarks": project_to_pixels(self.embedding.points(world), proj, height),
                "pixels": project_to_pixels(world, proj, height), "world": world, "vertices": v,
                "rotation": gt_rotation(mv)}

    def _box(self, i, rng):
        x, y, w, h = (float(b) for b in self.items[i]["bbox"])
        if rng is None:
            l = r = t = b = EVAL_EXTEND
        else:
            lo, hi = self.augment["extend"]
            l, r, t, b = rng.uniform(lo, hi, 4)
        x0, y0, x1, y1 = x - w * l, y - h * t, x + w * (1 + r), y + h * (1 + b)
        if rng is not None:
            s = rng.uniform(*self.augment["scale"])
            cx = (x0 + x1) / 2 + rng.uniform(-1, 1) * self.augment["shift"] * w
            cy = (y0 + y1) / 2 + rng.uniform(-1, 1) * self.augment["shift"] * h
            hw, hh = (x1 - x0) * s / 2, (y1 - y0) * s / 2
            x0, x1, y0, y1 = cx - hw, cx + hw, cy - hh, cy + hh
        bx, by = int(np.floor(x0)), int(np.floor(y0))
        return bx, by, max(1, int(round(x1 - bx))), max(1, int(round(y1 - by)))

    def _color(self, crop, rng):
        a = self.augment
        img = crop.astype(np.float32)
        img = img * rng.uniform(1 - a["brightness"], 1 + a["brightness"])
        m = img.mean()
        img = (img - m) * rng.uniform(1 - a["contrast"], 1 + a["contrast"]) + m
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        sat = 0.0 if rng.uniform() < a["grayscale"] else rng.uniform(1 - a["saturation"], 1 + a["saturation"])
        img = grey[..., None] + (img - grey[..., None]) * sat
        return np.clip(img, 0, 255)

    def __getitem__(self, i):
        rng = None
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, i])
        image = np.array(Image.open(self.image_path(i)).convert("RGB"))
        gt = self.gt_image_space(i, image.shape[0])
        box = self._box(i, rng)
        crop = crop_box(image, box)
        if rng is not None:
            crop = self._color(crop, rng)
        x, t = preprocess(crop, self.image_size)
        to_crop = lambda p: ((p - np.array(box[:2])) * t["k"] + np.array([t["pad_left"], t["pad_top"]])).astype(np.float32)
        R = nearest_rotation(gt["rotation"])
        f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))
        return {
            "input": x[0],
            "landmarks": f32(to_crop(gt["landmarks"])),
            "projected": f32(to_crop(gt["pixels"])),
            "vertices": f32(gt["vertices"]),
            "rotation": f32(R),
            "angles": f32(euler_angles(torch.from_numpy(R)).numpy()),
            "transform": torch.tensor([t["k"], t["pad_left"], t["pad_top"], box[0], box[1]], dtype=torch.float64),
            "index": i,
        }

    def mean_landmarks(self):
        """avg_face (eq. 4): the mean true 68 landmarks over the split, normalised crop
        coordinates, with the evaluation crop (reads image sizes, not pixels)."""
        acc = np.zeros((68, 2))
        for i in range(len(self)):
            with Image.open(self.image_path(i)) as im:
                W, H = im.size
            lm = self.gt_image_space(i, H)["landmarks"]
            bx, by, bw, bh = self._box(i, None)
            k = self.image_size / max(bw, bh)
            nh, nw = round(bh * k), round(bw * k)
            pad = np.array([(self.image_size - nw) >> 1, (self.image_size - nh) >> 1])
            acc += ((lm - np.array([bx, by])) * k + pad) / self.image_size
        return (acc / len(self)).astype(np.float32)
