"""Shared bits for the training tests: a tiny model config and a synthetic dataset in a temp dir."""
import os
import tempfile

import torch

from trans3dhead_ref import synthetic_flame

# SPEC's graph at a toy size (ResNet-50 of stem width 4, d = 16, 64 px input): seconds on a CPU.
TINY = {"image_size": 64, "backbone": {"depth": 50, "width": 4}, "d_model": 16, "nhead": 2,
        "dim_feedforward": 32, "num_layers": 2, "num_params": 413, "num_landmarks": 68,
        "flame": {"n_shape": 300, "n_expr": 100}}

torch.set_num_threads(1)  # the test machine is shared; one thread is also the fastest there
_FLAME = {}


def flame():
    if "f" not in _FLAME:
        _FLAME["f"] = synthetic_flame.generate(0)
    return _FLAME["f"]


def synthetic_dataset(train=4, val=2, seed=0):
    """A synthetic DAD-3DHeads-format folder (small images); the caller removes it."""
    from trans3dhead_train.geometry import load_landmark_embedding
    from trans3dhead_train.synthetic import write_dataset
    d = tempfile.mkdtemp(prefix="t3dh-synth-")
    f = flame()
    write_dataset(d, f, load_landmark_embedding(f["faces"], flame=f), {"train": train, "val": val},
                  seed=seed, size_range=(72, 96), log=None)
    return d


FIXTURE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "fixtures", "dad3dheads-mini"))
