#!/usr/bin/env python3
"""Train Trans3DHead on data in the DAD-3DHeads format (see python/README.md, "Training").

  /usr/bin/python3 python/train.py --config python/configs/dad3dheads.json
  /usr/bin/python3 python/train.py --config python/configs/synthetic-small.json --set max_steps=200
  /usr/bin/python3 python/train.py --config CFG --resume auto        # continue <out>/last.pth
  /usr/bin/python3 python/train.py --config CFG --resume RUN/last.pth --eval-only"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from trans3dhead_train.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
