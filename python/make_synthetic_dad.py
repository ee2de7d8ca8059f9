#!/usr/bin/env python3
"""Writes a synthetic dataset in the DAD-3DHeads format (trans3dhead_train/synthetic.py).

  /usr/bin/python3 python/make_synthetic_dad.py --out .cache/synth --train 2000 --val 200
  /usr/bin/python3 python/make_synthetic_dad.py --out DIR --flame generic_model.pkl \\
      --flame-landmarks landmark_embedding.pkl            # a real FLAME (its own subsets needed)

Output: DIR/DAD-3DHeadsDataset/{train,val}/ ({split}.json, images/, annotations/),
DIR/subsets/{head,head_z5,face}.npy (for the synthetic FLAME; with a real FLAME use
DAD-3DHeads' files instead) and DIR/synthetic.json (how it was made).
The synthetic data tests the training code; it is not a substitute for real data."""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from trans3dhead_ref import synthetic_flame  # noqa: E402
from trans3dhead_train.geometry import load_landmark_embedding  # noqa: E402
from trans3dhead_train.synthetic import write_dataset  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=1000, help="training items (default 1000)")
    ap.add_argument("--val", type=int, default=100, help="validation items (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flame", help="generic_model.pkl (default: the synthetic FLAME of --flame-seed)")
    ap.add_argument("--flame-landmarks", help="68-point landmark embedding for --flame")
    ap.add_argument("--flame-seed", type=int, default=0)
    ap.add_argument("--min-size", type=int, default=160, help="smallest image side (default 160)")
    ap.add_argument("--max-size", type=int, default=256, help="largest image side (default 256)")
    a = ap.parse_args()
    if a.flame:
        flame = synthetic_flame.load_published(a.flame, a.flame_landmarks)
        source = {"flame": os.path.abspath(a.flame)}
    else:
        flame = synthetic_flame.generate(a.flame_seed)
        source = {"flame": f"synthetic:{a.flame_seed}"}
    emb = load_landmark_embedding(flame["faces"], flame=flame)
    t0 = time.time()
    write_dataset(a.out, flame, emb, {"train": a.train, "val": a.val}, seed=a.seed,
                  size_range=(a.min_size, a.max_size))
    with open(os.path.join(a.out, "synthetic.json"), "w") as f:
        json.dump(dict(source, seed=a.seed, train=a.train, val=a.val, generator="trans3dhead-synthetic-dad/1",
                       note="synthetic renders for testing the training code; not a substitute for real data"), f, indent=1)
    print(f"wrote {a.train} + {a.val} items to {a.out} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
