#!/usr/bin/env python3
"""For test/eval.torch.test.ts: perturbed-truth predictions on a synthetic split and the
benchmark metrics python/trans3dhead_train/metrics.py gives them, computed as train.py's
evaluate() does (same ground truth, same per-record dict, same summaries).

  eval_agreement.py DATA_ROOT OUT.json"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

from trans3dhead_ref import synthetic_flame  # noqa: E402
from trans3dhead_train import metrics as M  # noqa: E402
from trans3dhead_train.dataset import DadHeads  # noqa: E402
from trans3dhead_train.geometry import SEVEN_OF_68, euler_angles, load_indices, load_landmark_embedding  # noqa: E402
from trans3dhead_train.synthetic import rotation_from_angles  # noqa: E402


def main(root, out):
    flame = synthetic_flame.generate(0)
    emb = load_landmark_embedding(flame["faces"], flame=flame)
    V = len(flame["v_template"])
    head = load_indices(os.path.join(root, "subsets", "head_z5.npy"), V)
    face = load_indices(os.path.join(root, "subsets", "face.npy"), V)
    ds = DadHeads(root, "val", emb, 256, augment=None)
    rng = np.random.default_rng(7)
    records, attrs, pa, ga, preds = [], [], [], [], []
    for i in range(len(ds)):
        with Image.open(ds.image_path(i)) as im:
            H = im.size[1]
        gt = ds.gt_image_space(i, H)
        # A prediction near the truth: landmarks off by a few px, the rotation turned by a few
        # degrees, the vertices (image frame) rotated, scaled, shifted and jittered.
        lm = gt["landmarks"] + rng.normal(0, 3, (68, 2))
        dR = rotation_from_angles(*rng.uniform(-8, 8, 3)) @ np.diag([1.0, -1, -1])
        R = dR @ gt["rotation"]
        verts = (gt["world"] * [1, -1, -1]) @ dR.T * 1.3 + [0.01, -0.02, 0.5]
        verts = verts + rng.normal(0, 0.002, verts.shape)
        rec = {"nme": M.nme(lm, gt["landmarks"], ds.items[i]["bbox"]), "pose_error": M.pose_error(R, gt["rotation"]),
               "z5": M.z5(verts, gt["world"], head),
               "chamfer": M.chamfer(verts, emb.points(verts)[SEVEN_OF_68], gt["world"], emb, face)}
        records.append(rec)
        attrs.append(ds.items[i].get("attributes"))
        pa.append(euler_angles(torch.from_numpy(R)).numpy())
        ga.append(euler_angles(torch.from_numpy(gt["rotation"])).numpy())
        preds.append({"landmarks": lm.ravel().tolist(), "rotation": R.ravel().tolist(), "vertices": verts.ravel().tolist()})
    res = M.summarize(records, attrs)
    res["overall"].update({f"mae_{k}": v for k, v in M.pose_mae(np.array(pa), np.array(ga)).items()})
    res["records"] = records
    res["predictions"] = preds
    with open(out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
