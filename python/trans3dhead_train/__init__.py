"""Training and evaluation for Trans3DHead on data in the DAD-3DHeads format.

Reuses `trans3dhead_ref` (the model with SPEC.md's state-dict names, the FLAME layer and the
preprocessing). See python/README.md, "Training"."""
