"""Minimal numpy reader/writer for the Hugging Face safetensors format.

Layout: u64 little-endian header length N, N bytes of JSON
`{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`
(padded with spaces to a multiple of 8), then the raw little-endian tensor bytes.
The `safetensors` package is not available on Debian, hence this file.
"""
import json
import struct

import numpy as np

# safetensors dtype name <-> numpy dtype (little-endian). BF16 has no numpy dtype: it is
# handled as the upper 16 bits of a float32.
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _bf16_to_f32(raw):
    return (raw.astype("<u4") << 16).view("<f4")


def f32_to_bf16_bits(x):
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (uint16)."""
    bits = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    bits = bits + 0x7FFF + ((bits >> 16) & 1)
    return (bits >> 16).astype("<u2")


def load(path):
    """Returns (tensors: dict name -> np.ndarray, metadata: dict). BF16 is widened to float32."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            arr = _bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]])
        out[name] = arr.reshape(shape).copy()
    return out, meta


def save(path, tensors, metadata=None, bf16=()):
    """Writes `tensors` (dict name -> array, in insertion order) to `path`.

    The dtype of each array picks the safetensors dtype; names listed in `bf16` are
    stored as BF16 (rounded from float32). Metadata values must be strings."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise TypeError(f"metadata {k!r} must be a string")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if name in bf16:
            dtype, raw = "BF16", f32_to_bf16_bits(arr).tobytes()
        else:
            le = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
            if le not in _NAMES:
                raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
            dtype, raw = _NAMES[le], np.ascontiguousarray(arr, dtype=le).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
