#!/usr/bin/env python3
"""For test/train-checkpoint.torch.test.ts: trains Trans3DHead (small config) for a few steps
with python/train.py on a tiny synthetic set, then runs the PyTorch reference model with the
written checkpoint (model.pth) on the photo with a head box.

  checkpoint_reference.py WORKDIR    -> WORKDIR/run/model.pth, WORKDIR/expected.json"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

from trans3dhead_ref import synthetic_flame  # noqa: E402
from trans3dhead_ref.flame import FlameLayer  # noqa: E402
from trans3dhead_ref.model import SMALL_CONFIG, Trans3DHead  # noqa: E402
from trans3dhead_ref.preprocess import preprocess, to_image  # noqa: E402

BOX = (10, 20, 150, 170)


def main(work):
    py = sys.executable
    data = os.path.join(work, "synth")
    subprocess.run([py, os.path.join(ROOT, "python", "make_synthetic_dad.py"), "--out", data, "--train", "4", "--val", "1",
                    "--min-size", "96", "--max-size", "112"], check=True, stdout=subprocess.DEVNULL)
    cfg = {"model": "small", "data": {"root": data, "subsets": {"head": os.path.join(data, "subsets", "head.npy")}},
           "optim": {"batch_size": 2, "epochs": 1, "lr": 1e-5}, "out": os.path.join(work, "run"), "device": "cpu",
           "log_every": 1, "val_every": 0}
    with open(os.path.join(work, "tiny.json"), "w") as f:
        json.dump(cfg, f)
    subprocess.run([py, os.path.join(ROOT, "python", "train.py"), "--config", os.path.join(work, "tiny.json")],
                   check=True, stdout=subprocess.DEVNULL)
    sd = torch.load(os.path.join(work, "run", "model.pth"), map_location="cpu")["state_dict"]
    model = Trans3DHead(SMALL_CONFIG)
    model.load_state_dict(sd)
    model.eval()
    layer = FlameLayer(synthetic_flame.generate(0), 300, 100, SMALL_CONFIG["image_size"])
    photo = np.array(Image.open(os.path.join(ROOT, "test", "fixtures", "astronaut-head.png")).convert("RGB"))
    x, t = preprocess(photo, SMALL_CONFIG["image_size"], box=BOX)
    with torch.no_grad():
        out = model(x)
        f = layer(out["params"])
    # The trained weights moved away from the initial ones (else this proves little).
    init = Trans3DHead(SMALL_CONFIG).state_dict()
    with open(os.path.join(work, "expected.json"), "w") as fo:
        json.dump({"box": BOX, "params": out["params"][0].tolist(), "landmarks": to_image(out["landmarks"].numpy(), t)[0].tolist(),
                   "rotation": f["rotation"][0].flatten().tolist(), "vertices": f["vertices"][0].flatten().tolist(),
                   "avg_face_trained": bool(sd["landmark_branch.avg_face"].abs().sum() > 0),
                   "bn_stats_moved": bool((sd["backbone.bn1.running_mean"] != init["backbone.bn1.running_mean"]).any())}, fo)


if __name__ == "__main__":
    main(sys.argv[1])
