#!/usr/bin/env python3
"""End-to-end training demonstration on synthetic data, on the CPU (README "Training your own model").

  nice -n 5 /usr/bin/python3 python/demo_training.py            # from a clean clone, ~30 min on 2 quiet cores

1. writes a synthetic dataset in the DAD-3DHeads format (python/make_synthetic_dad.py's
   generator): --train items (default 1000) and a held-out split of --val items (default 100),
   under .cache/demo/synth (skipped when it is already there);
2. builds the small model (python/configs/demo.json), sets avg_face from the training split and
   saves that untrained model to .cache/demo/untrained/model.{pth,safetensors};
3. trains it (python/train.py's Trainer: the paper's losses, Adam, step decay) and saves
   .cache/demo/run/model.{pth,safetensors} (and last.pth, resumable with --resume);
4. evaluates both on the held-out split with the benchmark metrics (trans3dhead_train/metrics.py)
   and prints them side by side; writes .cache/demo/figures.json.

Both checkpoints load in the engine: `trans3dhead eval .cache/demo/synth --split val
--weights .cache/demo/run/model.pth --flame synthetic:0 --subsets .cache/demo/synth/subsets`.
The synthetic data tests the training code; it is no substitute for real data."""
import argparse
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from trans3dhead_ref import synthetic_flame  # noqa: E402
from trans3dhead_train.geometry import load_landmark_embedding  # noqa: E402
from trans3dhead_train.synthetic import write_dataset  # noqa: E402
from trans3dhead_train.train import Trainer, evaluate, load_config, save_weights  # noqa: E402

ROWS = [("nme", "NME (%)", "{:.2f}"), ("pose_error", "pose error", "{:.3f}"), ("z5", "Z5 accuracy", "{:.3f}"),
        ("chamfer", "Chamfer", "{:.2f}"), ("mae_mean", "pose MAE (deg)", "{:.2f}"),
        ("mae_yaw", "  yaw", "{:.2f}"), ("mae_pitch", "  pitch", "{:.2f}"), ("mae_roll", "  roll", "{:.2f}")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.join(HERE, "configs", "demo.json"))
    ap.add_argument("--train", type=int, default=1000, help="synthetic training items (default 1000)")
    ap.add_argument("--val", type=int, default=100, help="held-out items (default 100)")
    ap.add_argument("--resume", action="store_true", help="continue <out>/last.pth instead of starting over")
    ap.add_argument("--max-minutes", type=float, help="stop training (and save) after this many minutes: for a "
                    "loaded machine; the figures then say how many steps it ran")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (as train.py)")
    a = ap.parse_args()
    log = lambda s: print(s, flush=True)
    cfg = load_config(a.config, a.set)
    root = cfg["data"]["root"]
    t_start = time.time()
    if not os.path.exists(os.path.join(root, "synthetic.json")):
        t0 = time.time()
        flame = synthetic_flame.generate(int(cfg["data"]["flame"].split(":", 1)[1]))
        emb = load_landmark_embedding(flame["faces"], flame=flame)
        write_dataset(root, flame, emb, {"train": a.train, "val": a.val}, seed=0)
        with open(os.path.join(root, "synthetic.json"), "w") as f:
            json.dump({"flame": cfg["data"]["flame"], "seed": 0, "train": a.train, "val": a.val,
                       "generator": "trans3dhead-synthetic-dad/1",
                       "note": "synthetic renders for testing the training code; not a substitute for real data"}, f)
        log(f"[1/4] wrote {a.train} + {a.val} synthetic items to {root} in {time.time() - t0:.0f} s")
    else:
        log(f"[1/4] using the synthetic data in {root}")

    tr = Trainer(cfg, log)
    demo_dir = os.path.dirname(cfg["out"])
    last = os.path.join(cfg["out"], "last.pth")
    if a.resume and os.path.exists(last):
        tr.resume(last)
    else:
        tr.init_weights()
        untrained = os.path.join(demo_dir, "untrained")
        os.makedirs(untrained, exist_ok=True)
        save_weights(tr.model, untrained, {"epoch": 0, "step": 0, "note": "untrained: random init + avg_face"})
        log(f"[2/4] untrained model saved to {untrained}")
    before = evaluate(tr.model, tr.val_ds, tr.flame_layer, tr.embedding, tr.subsets, tr.device)
    if a.resume:
        before = None  # not the untrained model
    elif os.path.exists(os.path.join(demo_dir, "figures.json")):
        os.remove(os.path.join(demo_dir, "figures.json"))

    t0 = time.time()
    o = cfg["optim"]
    log(f"[3/4] training: {len(tr.train_ds)} items, batch {o['batch_size']}, {o['epochs']} epochs, "
        f"lr {o['lr']} (backbone x{o['backbone_lr_factor']}), /{1 / o['lr_drop_factor']:.0f} at {o['lr_drop_epochs']}")
    if a.max_minutes:
        # fit() stops (and saves) at cfg["max_steps"]: set it from a timer when time is up.
        timer = threading.Timer(a.max_minutes * 60, lambda: tr.cfg.__setitem__("max_steps", tr.step + 1))
        timer.daemon = True
        timer.start()
    tr.fit()
    train_s = time.time() - t0
    after = evaluate(tr.model, tr.val_ds, tr.flame_layer, tr.embedding, tr.subsets, tr.device)

    log(f"[4/4] held-out split ({after['count']} items), benchmark metrics:")
    log(f"  {'metric':<16}{'untrained':>12}{'trained':>12}")
    for k, name, fmt in ROWS:
        if k in after["overall"]:
            b = fmt.format(before["overall"][k]) if before else "-"
            log(f"  {name:<16}{b:>12}{fmt.format(after['overall'][k]):>12}")
    planned = o["epochs"] * (len(tr.train_ds) // o["batch_size"])
    log(f"training took {train_s / 60:.1f} min ({tr.step} of {planned} steps, {tr.step * o['batch_size']} images), "
        f"all {(time.time() - t_start) / 60:.1f} min")
    with open(os.path.join(demo_dir, "figures.json"), "w") as f:
        json.dump({"untrained": before, "trained": after, "train_seconds": train_s, "steps": tr.step, "planned_steps": planned,
                   "config": cfg}, f, indent=1)


if __name__ == "__main__":
    main()
