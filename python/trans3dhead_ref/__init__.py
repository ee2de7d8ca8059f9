"""PyTorch reference implementation of the Trans3DHead inference contract (shared/SPEC.md).

Every TypeScript parity test is checked against the numbers this package produces."""
