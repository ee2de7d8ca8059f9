"""Self-tests of the reference. Run from python/: /usr/bin/python3 -m trans3dhead_ref.selftest"""
import math
import os
import sys
import tempfile

import numpy as np
import torch

from . import safetensors_np, synthetic_flame
from .flame import FlameLayer, pose_angles, rotation_6d_to_matrix
from .model import (DEFAULT_CONFIG, SMALL_CONFIG, QAMemAttention, Trans3DHead,
                    sine_position_embedding, spec_state_dict_keys)
from .preprocess import crop_box, preprocess, to_image

FAILED = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))
    if not ok:
        FAILED.append(name)


def test_qamem_identity():
    """QAMem with an identity conv must be exactly nn.MultiheadAttention."""
    torch.manual_seed(0)
    d, h, n, s, b = 32, 4, 68, 64, 2
    qa = QAMemAttention(d, h, n)
    with torch.no_grad():
        qa.in_proj_bias.uniform_(-0.5, 0.5)
        qa.out_proj.bias.uniform_(-0.5, 0.5)
        qa.qamem.weight.copy_(torch.eye(d).repeat(n, 1)[:, :, None])
        qa.qamem.bias.zero_()
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True)
    mha.load_state_dict({k: v for k, v in qa.state_dict().items() if not k.startswith("qamem")})
    q, k, v = torch.randn(b, n, d), torch.randn(b, s, d), torch.randn(b, s, d)
    with torch.no_grad():
        a, ref = qa(q, k, v)[0], mha(q, k, v, need_weights=False)[0]
    err = float((a - ref).abs().max())
    check("QAMem(identity) == nn.MultiheadAttention", err < 1e-5, f"max err {err:.2e}")
    # and a non-identity qamem acts per query as SPEC sec. 5 writes it
    with torch.no_grad():
        qa.qamem.weight.normal_()
        qa.qamem.bias.normal_()
        wq, wk, wv = qa.in_proj_weight.chunk(3)
        bq, bk, bv = qa.in_proj_bias.chunk(3)
        dh = d // h
        O = torch.zeros(b, n, d)
        for head in range(h):
            sl = slice(head * dh, (head + 1) * dh)
            att = torch.softmax((q @ wq[sl].T + bq[sl]) @ (k @ wk[sl].T + bk[sl]).transpose(1, 2) / math.sqrt(dh), -1)
            O[..., sl] = att @ (v @ wv[sl].T + bv[sl])
        W = qa.qamem.weight[:, :, 0].view(n, d, d)
        O2 = torch.einsum("iod,bid->bio", W, O) + qa.qamem.bias.view(n, d)
        ref = qa.out_proj(O2)
        err = float((qa(q, k, v)[0] - ref).abs().max())
    check("QAMem per-query formula (SPEC sec. 5)", err < 1e-4, f"max err {err:.2e}")


def test_state_dict_keys():
    for name, cfg in (("small", SMALL_CONFIG), ("full", DEFAULT_CONFIG)):
        keys = [k for k in Trans3DHead(cfg).state_dict() if not k.endswith("num_batches_tracked")]
        spec = spec_state_dict_keys(cfg)
        diff = sorted(set(keys) ^ set(spec))
        check(f"state_dict keys == SPEC sec. 8 ({name})", not diff and len(keys) == len(spec), str(diff[:5]))


def test_positions():
    """The sine embedding against SPEC sec. 2's closed form (float64)."""
    h = w = 8
    d = 32
    pos = sine_position_embedding(h, w, d).double().numpy()
    ref = np.zeros((h * w, d))
    npf = d // 2
    for y in range(h):
        for x in range(w):
            ye, xe = (y + 1) / (h + 1e-6) * 2 * math.pi, (x + 1) / (w + 1e-6) * 2 * math.pi
            for i in range(npf):
                dim_t = 10000 ** (2 * (i // 2) / npf)
                f = math.sin if i % 2 == 0 else math.cos
                ref[y * w + x, i], ref[y * w + x, npf + i] = f(ye / dim_t), f(xe / dim_t)
    err = float(np.abs(pos - ref).max())
    check("sine position embedding == SPEC sec. 2", err < 1e-5, f"max err {err:.2e}")


def test_rotation_and_pose():
    R = rotation_6d_to_matrix(torch.tensor([[1.0, 0, 0, 0, -1, 0]]))[0]
    check("6D [1,0,0,0,-1,0] -> diag(1,-1,-1)", torch.equal(R, torch.diag(torch.tensor([1.0, -1, -1]))), str(R.tolist()))
    p = pose_angles(np.diag([1.0, -1, -1])[None])[0]
    check("pose(diag(1,-1,-1)) == (0,0,0)", np.allclose(p, 0, atol=1e-9), str(p))
    p = pose_angles(np.eye(3)[None])[0]
    check("pose(I) == (180,0,0) (pitch wrapped into (-180,180])", np.allclose(p, [180, 0, 0]), str(p))


def test_flame_rest():
    """Zero parameters with the frontal 6D: LBS is the identity, so vertices = R(v_template + 0.05 z)."""
    fl = synthetic_flame.generate(0)
    layer = FlameLayer(fl)
    params = torch.zeros(1, 413)
    params[0, 403:409] = torch.tensor([1.0, 0, 0, 0, -1, 0])
    out = layer(params)
    ref = (fl["v_template"] + np.array([0, 0, 0.05], np.float32)) * np.array([1, -1, -1], np.float32)
    err = float(np.abs(out["vertices"][0].numpy() - ref).max())
    check("FLAME at rest == template", err < 1e-6, f"max err {err:.2e}")
    w = fl["weights"].sum(1)
    check("synthetic FLAME: weights rows sum to 1", np.abs(w - 1).max() < 1e-6)
    check("synthetic FLAME: J_regressor rows sum to 1", np.abs(fl["J_regressor"].sum(1) - 1).max() < 1e-6)
    check("synthetic FLAME: shapes", fl["v_template"].shape == (5023, 3) and fl["faces"].shape == (9976, 3)
          and fl["shapedirs"].shape == (5023, 3, 400) and fl["posedirs"].shape == (36, 15069))


def test_files():
    with tempfile.TemporaryDirectory() as tmp:
        t = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([-1, 2], np.int32),
             "c": np.array([1.5, -2], np.float16), "d": np.array([7], np.int64), "e": np.arange(3, dtype=np.uint8)}
        path = os.path.join(tmp, "t.safetensors")
        safetensors_np.save(path, t, {"k": "v"})
        back, meta = safetensors_np.load(path)
        ok = meta == {"k": "v"} and all(np.array_equal(back[k], t[k]) and back[k].dtype == t[k].dtype for k in t)
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        check("safetensors round trip (header padded to 8)", ok and n % 8 == 0)
        fl = synthetic_flame.generate(1)
        pkl, emb = os.path.join(tmp, "generic_model.pkl"), os.path.join(tmp, "lmk.pkl")
        synthetic_flame.write_generic_model_pkl(pkl, fl)
        synthetic_flame.write_landmark_embedding_pkl(emb, fl)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy.sparse.csc is a deprecated module path
            back = synthetic_flame.load_published(pkl, emb)
        ok = all(np.array_equal(back[k], fl[k]) for k in fl)
        check("generic_model.pkl round trip (published layout -> canonical)", ok)


def test_preprocess():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    x, t = preprocess(img)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    ref = ((img / 255.0 - mean) / std).transpose(2, 0, 1)
    check("preprocess 256x256: no resize, no pad", float(np.abs(x[0].numpy() - ref).max()) < 1e-5
          and t["pad_left"] == t["pad_top"] == 0)
    img = rng.integers(0, 256, (221, 181, 3), dtype=np.uint8)
    x, t = preprocess(img)
    check("preprocess 181x221: size and padding", t["resized"] == (256, 210) and t["pad_left"] == 23 and t["pad_top"] == 0)
    p = to_image(np.array([[23.0, 0.0], [23 + 210.0, 256.0]]), t)
    # the map uses k, not the rounded resize: 210 crop pixels are 210 / k = 181.29 image pixels
    check("map back to the image", np.allclose(p, [[0, 0], [210 * 221 / 256, 221]], atol=1e-4), str(p.tolist()))
    c = crop_box(img, (-5, 200, 20, 30))
    check("head box crop: outside is zeros", c.shape == (30, 20, 3) and not c[:, :5].any() and not c[21:].any()
          and np.array_equal(c[:21, 5:], img[200:, :15]))


def test_small_fixture():
    """The committed small fixture still matches this code: reload model.pth, regenerate the
    synthetic FLAME from flame.json's seed (checking its sha256s), rerun, compare."""
    import json
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "test", "fixtures", "small")
    if not os.path.exists(os.path.join(root, "expected.safetensors")):
        print("skip small fixture (not generated)")
        return
    with open(os.path.join(root, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(root, "flame.json")) as f:
        info = json.load(f)
    exp, _ = safetensors_np.load(os.path.join(root, "expected.safetensors"))
    model = Trans3DHead(cfg).eval()
    model.load_state_dict(torch.load(os.path.join(root, "model.pth"))["state_dict"])
    fl = synthetic_flame.generate(info["seed"])
    check("small fixture: synthetic FLAME sha256 == flame.json", synthetic_flame.checksums(fl) == info["sha256"])
    layer = FlameLayer(fl, cfg["flame"]["n_shape"], cfg["flame"]["n_expr"], cfg["image_size"])
    x, t = preprocess(exp["image"].astype(np.uint8))
    check("small fixture: input", float(np.abs(x.numpy() - exp["input"]).max()) < 1e-6)
    with torch.no_grad():
        out = model(x)
        f = layer(out["params"])
    for k, a, tol in (("landmarks_crop", out["landmarks"], 1e-3), ("params", out["params"], 1e-4),
                      ("vertices", f["vertices"], 1e-5), ("projected_crop", f["projected"], 1e-3)):
        err = float(np.abs(a.numpy() - exp[k]).max())
        check(f"small fixture: {k}", err < tol, f"max err {err:.2e}")
    err = float(np.abs(pose_angles(exp["pose_in_rotation"]) - exp["pose_out"]).max())
    check("small fixture: pose angles", err < 1e-4, f"max err {err:.2e}")


def main():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    for test in (test_qamem_identity, test_state_dict_keys, test_positions, test_rotation_and_pose,
                 test_flame_rest, test_preprocess, test_files, test_small_fixture):
        test()
    if FAILED:
        print(f"{len(FAILED)} failed")
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
