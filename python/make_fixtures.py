#!/usr/bin/env python3
"""Writes a parity fixture: seeded weights, the synthetic FLAME, and the PyTorch reference's
outputs on the astronaut photo, for the TypeScript tests to compare against.

  /usr/bin/python3 python/make_fixtures.py --config small   # -> test/fixtures/small/ (committed)
  /usr/bin/python3 python/make_fixtures.py --config full    # -> .cache/torch-full/ (CI, npm run test:torch)

See python/README.md for the files and the keys of expected.safetensors."""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from trans3dhead_ref import safetensors_np, synthetic_flame  # noqa: E402
from trans3dhead_ref.flame import FlameLayer, pose_angles  # noqa: E402
from trans3dhead_ref.init import SKIMAGE_DATA, init_weights  # noqa: E402
from trans3dhead_ref.model import DEFAULT_CONFIG, SMALL_CONFIG, Trans3DHead  # noqa: E402
from trans3dhead_ref.preprocess import preprocess, to_image  # noqa: E402

PHOTO = os.path.join(ROOT, "test", "fixtures", "astronaut-head.png")
PHOTO_BOX = (135, 2, 181, 221)  # x, y, w, h in skimage's astronaut.png (see ATTRIBUTION.md)
HEAD_BOX = (-20, 100, 190, 150)  # box case on the photo: sticks out left and below
FLAME_GENERATOR = "trans3dhead-synthetic-flame/1"


def load_photo():
    from PIL import Image
    if not os.path.exists(PHOTO):  # recreate the committed crop from Debian's skimage data
        im = np.array(Image.open(os.path.join(SKIMAGE_DATA, "astronaut.png")).convert("RGB"))
        x, y, w, h = PHOTO_BOX
        Image.fromarray(im[y:y + h, x:x + w]).save(PHOTO, optimize=True)
    return np.array(Image.open(PHOTO).convert("RGB"))


def run(model, layer, x, t):
    """Full pipeline on a normalised batch x sharing the preprocessing transform t."""
    out = model(x)
    f = layer(out["params"])
    lm = out["landmarks"].numpy()
    proj = f["projected"].numpy()
    return {
        "c5": out["c5"], "memory": out["memory"], "pos": out["pos"],
        "params_out": out["params_out"], "landmark_out": out["landmark_out"], "params": out["params"],
        "landmarks_crop": lm, "landmarks": to_image(lm, t),
        "rotation": f["rotation"], "vertices": f["vertices"],
        "projected_crop": proj, "projected": to_image(proj, t),
        "landmarks3d": f["landmarks3d"], "pose": pose_angles(f["rotation"].numpy()),
    }


def pose_rotations(seed):
    """Rotations R (the model's `rotation`) for the pose-angle case, incl. gimbal lock."""
    from scipy.spatial.transform import Rotation
    eulers = [[170, 30, -20], [-170, -45, 60], [30, 90, 20], [-50, -90, 10], [10, 89, 5], [179.9, 0.5, -0.5]]
    Rt = [Rotation.from_euler("xyz", e, degrees=True).as_matrix() for e in eulers]
    Rt += list(Rotation.random(3, random_state=seed).as_matrix())
    R = [np.diag([1.0, -1, -1]), np.eye(3)] + [m.T for m in Rt]
    R = np.stack(R)
    R[np.abs(R) < 1e-12] = 0.0  # make the +-90 degree cases exactly gimbal-locked
    return R.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=["small", "full"], required=True)
    ap.add_argument("--out", help="output folder (default: test/fixtures/small or .cache/torch-full)")
    ap.add_argument("--seed", type=int, default=0, help="weights and synthetic FLAME seed (default 0)")
    ap.add_argument("--flame-files", action=argparse.BooleanOptionalAction, default=None,
                    help="also write flame/ (generic_model.pkl, .npz, landmark_embedding.pkl, "
                         "flame.safetensors); default: on for full, off for small")
    args = ap.parse_args()
    small = args.config == "small"
    out_dir = args.out or os.path.join(ROOT, "test/fixtures/small" if small else ".cache/torch-full")
    flame_files = (not small) if args.flame_files is None else args.flame_files
    cfg = json.loads(json.dumps(SMALL_CONFIG if small else DEFAULT_CONFIG))
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    warnings.simplefilter("ignore")  # scipy's gimbal-lock and deprecation warnings

    photo = load_photo()
    flip = np.ascontiguousarray(photo[:, ::-1])
    x, t = preprocess(photo, cfg["image_size"])
    xf, tf = preprocess(flip, cfg["image_size"])
    assert t == tf
    xb = torch.cat([x, xf])

    model = Trans3DHead(cfg)
    init_weights(model, args.seed, [photo], xb)
    flame = synthetic_flame.generate(args.seed)
    layer = FlameLayer(flame, cfg["flame"]["n_shape"], cfg["flame"]["n_expr"], cfg["image_size"])

    with torch.no_grad():
        single = run(model, layer, x, t)
        batch = run(model, layer, xb, t)
        xbox, tbox = preprocess(photo, cfg["image_size"], box=HEAD_BOX)
        box = run(model, layer, xbox, tbox)

        # FLAME alone with every pose input non-zero.
        rng = np.random.default_rng(args.seed)
        nb = cfg["flame"]["n_shape"] + cfg["flame"]["n_expr"]
        fp = np.zeros((2, nb + 13), np.float32)
        fp[:, :nb] = rng.normal(0, 0.5, (2, nb))
        fp[:, nb:nb + 3] = rng.normal(0, 0.2, (2, 3))                              # jaw
        fp[:, nb + 3:nb + 9] = np.array([1, 0, 0, 0, -1, 0]) + rng.normal(0, 0.3, (2, 6))  # 6D
        fp[:, nb + 9:nb + 12] = rng.normal(0, 0.05, (2, 3))                        # translation
        fp[:, nb + 12] = rng.normal(0, 0.1, 2)                                     # scale
        fg, fn, fe = (rng.normal(0, 0.2, (2, n)).astype(np.float32) for n in (3, 3, 6))
        fo = layer(torch.from_numpy(fp), torch.from_numpy(fg), torch.from_numpy(fn), torch.from_numpy(fe))

    pose_R = pose_rotations(args.seed)
    f32 = lambda a: np.ascontiguousarray(a.numpy() if torch.is_tensor(a) else a, dtype=np.float32)
    tensors = {"image": f32(photo), "input": f32(x)}
    tensors.update({k: f32(v) for k, v in single.items()})
    tensors["batch_input_flipped"] = f32(xf) if not small else None  # big: full config only
    tensors.update({"batch_" + k: f32(batch[k]) for k in
                    ("memory", "params", "landmarks_crop", "landmarks", "rotation", "vertices",
                     "projected_crop", "projected", "landmarks3d", "pose")})
    tensors.update({"box": f32(np.array(HEAD_BOX)), "box_params": f32(box["params"]),
                    "box_landmarks_crop": f32(box["landmarks_crop"]), "box_landmarks": f32(box["landmarks"]),
                    "box_projected": f32(box["projected"])})
    tensors.update({"flame_in_params": fp, "flame_in_global": fg, "flame_in_neck": fn, "flame_in_eyes": fe,
                    "flame_out_vertices": f32(fo["vertices"]), "flame_out_projected": f32(fo["projected"]),
                    "flame_out_landmarks3d": f32(fo["landmarks3d"])})
    tensors.update({"pose_in_rotation": pose_R, "pose_out": f32(pose_angles(pose_R))})
    tensors = {k: v for k, v in tensors.items() if v is not None}

    sums = synthetic_flame.checksums(flame)
    flame_info = {"generator": FLAME_GENERATOR, "seed": args.seed, "format": "trans3dhead-flame",
                  "synthetic": "true", "sha256": sums}
    meta = {
        "config": json.dumps(cfg), "seed": str(args.seed), "photo": "test/fixtures/astronaut-head.png",
        "transform": json.dumps({"k": t["k"], "pad_left": t["pad_left"], "pad_top": t["pad_top"],
                                 "resized_hw": list(t["resized"])}),
        "box_transform": json.dumps({"box": list(HEAD_BOX), "k": tbox["k"], "pad_left": tbox["pad_left"],
                                     "pad_top": tbox["pad_top"], "resized_hw": list(tbox["resized"])}),
        "batch": "photo, photo flipped horizontally (same size, same transform)",
        "flame": json.dumps({"generator": FLAME_GENERATOR, "seed": args.seed}),
        "versions": json.dumps({"torch": torch.__version__, "numpy": np.__version__,
                                "scipy": __import__("scipy").__version__}),
    }
    safetensors_np.save(os.path.join(out_dir, "expected.safetensors"), tensors, meta)
    torch.save({"state_dict": model.state_dict()}, os.path.join(out_dir, "model.pth"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "flame.json"), "w") as f:
        json.dump(flame_info, f, indent=2)
        f.write("\n")
    if flame_files:
        fdir = os.path.join(out_dir, "flame")
        os.makedirs(fdir, exist_ok=True)
        synthetic_flame.write_generic_model_pkl(os.path.join(fdir, "generic_model.pkl"), flame)
        synthetic_flame.write_npz(os.path.join(fdir, "generic_model.npz"), flame)
        synthetic_flame.write_landmark_embedding_pkl(os.path.join(fdir, "landmark_embedding.pkl"), flame)
        synthetic_flame.write_safetensors(os.path.join(fdir, "flame.safetensors"), flame,
                                          {"generator": FLAME_GENERATOR, "seed": str(args.seed)})

    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(out_dir) for fn in fns)
    p = single["params"][0, nb:].numpy()
    print(f"{args.config}: wrote {out_dir} ({total / 2**20:.2f} MiB) in {time.time() - t0:.1f}s; "
          f"pose {np.round(single['pose'][0], 2).tolist()}, rot6d {np.round(p[3:9], 3).tolist()}, "
          f"landmarks x {single['landmarks_crop'][0, :, 0].min():.0f}..{single['landmarks_crop'][0, :, 0].max():.0f}")


if __name__ == "__main__":
    main()
