#!/usr/bin/env python3
"""PyTorch CPU frames per second of the reference network, for bench/peers.ts.

  /usr/bin/python3 python/bench_torch.py [--meta .cache/peers/NAME.json] [--frames 10] [--seconds 20]
                                         [--threads N] [--batch 1]

Runs exactly what python/export_onnx.py put in the ONNX file (normalised input -> params,
landmarks; preprocessing and FLAME outside) with the weights it saved next to it (NAME.pth),
on NAME.input.bin, under torch.no_grad() in eval mode. One warm-up frame, then timed frames
until --frames or --seconds. The last line printed is a JSON object (fps, msMedian, ...)."""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from export_onnx import Network, make_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meta", default=os.path.join(ROOT, ".cache", "peers", "trans3dhead-full-seed0.json"),
                    help="the .json export_onnx.py wrote (config, weights and input next to it)")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: all cores)")
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with open(args.meta) as f:
        meta = json.load(f)
    folder = os.path.dirname(os.path.abspath(args.meta))
    t0 = time.perf_counter()
    net = Network(make_model(meta["config"], os.path.join(folder, meta["pth"]))).eval()
    load_ms = (time.perf_counter() - t0) * 1000
    x = torch.from_numpy(np.fromfile(os.path.join(folder, meta["input"]["file"]), dtype="<f4").reshape(meta["input"]["shape"]))
    x = x.repeat(args.batch, 1, 1, 1)

    ms = []
    with torch.no_grad():
        t = time.perf_counter()
        params, landmarks = net(x)
        first_ms = (time.perf_counter() - t) * 1000
        ref = np.array(meta["outputs"]["params"][1], np.float32)
        diff = float(np.abs(params[0].numpy() - ref).max())
        start = time.perf_counter()
        while len(ms) < args.frames and time.perf_counter() - start < args.seconds:
            t = time.perf_counter()
            net(x)
            ms.append((time.perf_counter() - t) * 1000)
    med = statistics.median(ms)
    print(json.dumps({
        "fps": 1000 * args.batch / med, "msMedian": med, "msMin": min(ms), "frames": len(ms), "batch": args.batch,
        "firstMs": first_ms, "loadMs": load_ms, "threads": torch.get_num_threads(),
        "maxAbsDiffParams": diff, "version": torch.__version__,
    }))


if __name__ == "__main__":
    main()
