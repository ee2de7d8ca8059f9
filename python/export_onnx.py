#!/usr/bin/env python3
"""Exports the PyTorch reference Trans3DHead to ONNX for the peer benchmarks (bench/peers.ts).

  /usr/bin/python3 python/export_onnx.py [--config full|small|cfg.json] [--checkpoint model.pth]
                                         [--seed 0] [--image photo.png] [--out .cache/peers/NAME.onnx]

What the graph holds: normalised input (B, 3, 256, 256) NCHW (SPEC sec. 1's output) ->
ResNet backbone, input_proj, sine positions (constants), both DETR decoders with QAMem,
MQinit and MARR -> outputs `params` (B, 413) and `landmarks` (B, 68, 2) in crop pixels.
Outside the graph (a small share of the work, and the same for every peer): preprocessing
(resize/pad/normalise, done here once with the reference's own code) and FLAME/pose.
The batch axis is dynamic.

Weights: a checkpoint (torch.save'd state dict, optionally under "state_dict", or a
.safetensors) or, by default, the reference's own seeded init (trans3dhead_ref.init, the same
as make_fixtures.py's for that seed). Speed does not depend on the values, but calibrated
weights keep activations in a normal range (no denormals slowing the CPU peers).

Next to NAME.onnx it writes NAME.json: the config, the input file, and PyTorch's outputs on it
(so a peer can check it computes the same), and NAME.input.bin: the preprocessed photo as raw
little-endian f32 (1, 3, 256, 256), and NAME.pth: the weights, for python/bench_torch.py."""
import argparse
import hashlib
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

from trans3dhead_ref import safetensors_np  # noqa: E402
from trans3dhead_ref.init import init_weights  # noqa: E402
from trans3dhead_ref.model import DEFAULT_CONFIG, SMALL_CONFIG, Trans3DHead  # noqa: E402
from trans3dhead_ref.preprocess import preprocess  # noqa: E402

PHOTO = os.path.join(ROOT, "test", "fixtures", "astronaut-head.png")


class Network(torch.nn.Module):
    """The reference model cut to the network outputs the engine's graph produces before FLAME."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out["params"], out["landmarks"]


def load_config(name):
    if name in ("full", "default"):
        return json.loads(json.dumps(DEFAULT_CONFIG))
    if name == "small":
        return json.loads(json.dumps(SMALL_CONFIG))
    with open(name) as f:
        return json.load(f)


def load_image(path):
    from PIL import Image
    return np.array(Image.open(path).convert("RGB"))


def make_model(config, checkpoint=None, seed=0, photo=PHOTO):
    """The reference in eval mode with a checkpoint's weights or the seeded default init."""
    model = Trans3DHead(config)
    if checkpoint:
        if checkpoint.endswith(".safetensors"):
            sd = {k: torch.from_numpy(np.array(v)) for k, v in safetensors_np.load(checkpoint)[0].items()}
        else:
            sd = torch.load(checkpoint, map_location="cpu")
            sd = sd.get("state_dict", sd.get("model", sd)) if isinstance(sd, dict) else sd
        missing, unexpected = model.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]  # may be absent
        if missing or unexpected:
            raise SystemExit(f"{checkpoint}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]} "
                             "(SPEC's names expected; see python/README.md)")
    else:
        im = load_image(photo)
        flip = np.ascontiguousarray(im[:, ::-1])
        x = torch.cat([preprocess(im, config["image_size"])[0], preprocess(flip, config["image_size"])[0]])
        init_weights(model, seed, [im], x)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="full", help="full (SPEC default, default), small, or a config.json")
    ap.add_argument("--checkpoint", help="weights (.pth state dict or .safetensors); default: seeded init")
    ap.add_argument("--seed", type=int, default=0, help="seed of the default init (default 0)")
    ap.add_argument("--image", default=PHOTO, help="photo to preprocess as the input (default the test photo)")
    ap.add_argument("--out", help="output .onnx (default .cache/peers/trans3dhead-<config>-<weights>.onnx)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes

    cfg = load_config(args.config)
    tag = os.path.splitext(os.path.basename(args.config))[0]
    wtag = f"seed{args.seed}" if not args.checkpoint else "ckpt-" + hashlib.sha256(open(args.checkpoint, "rb").read()).hexdigest()[:12]
    out = args.out or os.path.join(ROOT, ".cache", "peers", f"trans3dhead-{tag}-{wtag}.onnx")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    stem = out[:-5] if out.endswith(".onnx") else out

    t0 = time.time()
    model = make_model(cfg, args.checkpoint, args.seed)
    net = Network(model)
    x, _ = preprocess(load_image(args.image), cfg["image_size"])
    with torch.no_grad():
        params, landmarks = net(x)
        torch.onnx.export(net, (x,), out, opset_version=args.opset, do_constant_folding=True,
                          input_names=["input"], output_names=["params", "landmarks"],
                          dynamic_axes={"input": {0: "batch"}, "params": {0: "batch"}, "landmarks": {0: "batch"}})
    x.numpy().astype("<f4").tofile(stem + ".input.bin")
    torch.save({"state_dict": model.state_dict()}, stem + ".pth")
    n_params = sum(p.numel() for p in model.parameters())
    meta = {
        "onnx": os.path.basename(out), "pth": os.path.basename(stem + ".pth"), "config": cfg, "weights": args.checkpoint or f"seeded init (seed {args.seed})",
        "parameters": n_params, "opset": args.opset,
        "input": {"name": "input", "shape": list(x.shape), "file": os.path.basename(stem + ".input.bin"),
                  "image": os.path.relpath(os.path.abspath(args.image), ROOT)},
        "outputs": {"params": [list(params.shape), params.flatten().tolist()],
                    "landmarks": [list(landmarks.shape), landmarks.flatten().tolist()]},
        "included": "backbone, input_proj, sine positions, both decoders (QAMem, MQinit, MARR), 3DMM and landmark heads",
        "excluded": "preprocessing (resize/pad/normalise), FLAME, projection, pose angles",
        "versions": {"torch": torch.__version__},
    }
    with open(stem + ".json", "w") as f:
        json.dump(meta, f)
    size = os.path.getsize(out)
    print(f"wrote {out} ({size / 2**20:.1f} MiB, {n_params / 1e6:.1f} M parameters, opset {args.opset}) in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
