"""A seeded synthetic FLAME with the real array shapes, and writers for the published formats.

The real FLAME model cannot be redistributed, so tests use this stand-in: V = 5023 vertices,
F = 9976 faces, 5 joints, 400 shape+expression directions, 36 pose directions, a 68-point
landmark embedding. The geometry is a head-like surface (ellipsoid with a nose and a neck,
radius ~0.1 model units, face towards +z, y up, subject's left eye at +x).

The generator is deliberately portable, so a test in another language can build the
identical arrays from the seed instead of shipping 24 MB (see python/README.md,
"Synthetic FLAME v1"): every value is computed in float64 with + - * / max min only
(plus sin/cos/pi of the grid angles, from the C library), in the order written here, from a
32-bit integer hash, then rounded once to float32. Loops over "j" below are explicit
because the summation order is part of the definition (numpy's sum/matmul would reorder).
"""
import io
import math
import pickle
import sys
import types

import numpy as np

NUM_RINGS, NUM_COLS = 81, 62          # latitude rings x longitude columns, plus a top pole
V = NUM_RINGS * NUM_COLS + 1          # 5023
F = 9976                              # 62 + 80*62*2 = 9982 triangles; the last 6 are dropped
NUM_SHAPE, NUM_EXPR = 300, 100
PARENTS = [-1, 0, 1, 1, 1]            # global, neck, jaw, left eye (+x), right eye (-x)
M32 = 0xFFFFFFFF

# Hash streams (any distinct constants; part of the definition).
S_JREG, S_SHAPE, S_POSE, S_BARY, S_LMKTRI = 1, 2, 3, 4, 5

# (ring, column) of the 68 landmark triangles' quads. Derived once from the 2D layout used for
# `avg_face` (init.face_layout_68: u, w in [-1, 1]) via xn = 0.8u, yn = 0.05 - 0.55w on the unit
# sphere, and frozen here as literals so no float rounding is involved.
LMK_QUADS = [
    (37, 55), (40, 55), (43, 55), (46, 56), (48, 57), (50, 58), (51, 59), (52, 61), (53, 0),
    (52, 1), (51, 3), (50, 4), (48, 5), (46, 6), (43, 7), (40, 7), (37, 7),
    (31, 55), (30, 57), (30, 58), (30, 59), (31, 61), (31, 1), (30, 3), (30, 4), (30, 5), (31, 7),
    (34, 0), (36, 0), (38, 0), (40, 0), (42, 60), (42, 61), (42, 0), (42, 1), (42, 2),
    (35, 57), (34, 58), (34, 59), (35, 60), (36, 59), (36, 58),
    (35, 2), (34, 3), (34, 4), (35, 5), (36, 4), (36, 3),
    (47, 59), (46, 59), (45, 60), (45, 0), (45, 2), (46, 3), (47, 3), (48, 3), (49, 2), (49, 0),
    (49, 60), (48, 59), (47, 60), (46, 60), (46, 0), (46, 2), (47, 2), (48, 2), (48, 0), (48, 60),
]

# J_regressor supports: (rings, columns); each row uses every (ring, column) pair, rings outer.
JREG_SUPPORT = [
    ([78, 79], list(range(0, 62, 4))),                  # 0 global: bottom of the neck
    ([60, 61], list(range(0, 62, 4))),                  # 1 neck
    ([40, 41, 42, 43], [14, 15, 16, 17, 45, 46, 47, 48]),  # 2 jaw: both sides at ear level
    ([34, 35, 36, 37], [2, 3, 4, 5]),                   # 3 left eye (+x)
    ([34, 35, 36, 37], [57, 58, 59, 60]),               # 4 right eye (-x)
]


def hash32(x):
    """lowbias32 (C. Wellons) on uint32 values, computed in uint64 arrays and masked."""
    m = np.uint64(M32)
    x = np.asarray(x, dtype=np.uint64) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & m
    x ^= x >> np.uint64(16)
    return x


def _bits(seed, stream, index):
    """hash32(index ^ hash32(seed ^ hash32(stream)))."""
    key = hash32(np.uint64(seed & M32) ^ hash32(stream))
    return hash32(np.asarray(index, dtype=np.uint64) ^ key)


def unit(seed, stream, index):
    """[0, 1) with 24 bits: exact in float32 and float64."""
    return (_bits(seed, stream, index) >> np.uint64(8)).astype(np.float64) * 2.0 ** -24


def noise(seed, stream, index):
    """[-1, 1), exact."""
    return unit(seed, stream, index) * 2.0 - 1.0


def _clamp01(x):
    return np.minimum(np.maximum(x, 0.0), 1.0)


def sphere_dirs():
    """Unit-sphere direction per vertex (xn, yn, zn), float64: pole first, then ring-major."""
    xn, yn, zn = [0.0], [1.0], [0.0]
    for r in range(NUM_RINGS):
        th = math.pi * (r + 1) / 84
        st, ct = math.sin(th), math.cos(th)
        for c in range(NUM_COLS):
            ph = 2 * math.pi * c / NUM_COLS
            xn.append(st * math.sin(ph))
            yn.append(ct)
            zn.append(st * math.cos(ph))
    return np.array(xn), np.array(yn), np.array(zn)


def _faces():
    f = [(0, 1 + c, 1 + (c + 1) % NUM_COLS) for c in range(NUM_COLS)]  # top fan
    for r in range(NUM_RINGS - 1):
        for c in range(NUM_COLS):
            a, b = 1 + r * NUM_COLS + c, 1 + r * NUM_COLS + (c + 1) % NUM_COLS
            f += [(a, a + NUM_COLS, b), (b, a + NUM_COLS, b + NUM_COLS)]
    return np.array(f[:F], dtype=np.int32)  # drop the last 6: a notch in the neck's rim


def _basis(xn, yn, zn):
    """10 smooth functions of the direction, used by the blend shapes."""
    return [np.ones_like(xn), xn, yn, zn, xn * yn, yn * zn, zn * xn, xn * xn, yn * yn, zn * zn]


def _field(seed, stream, row, basis):
    """Displacement field (V, 3) of blend-shape `row`: sum_j coef[row, c, j] * basis_j, j in order."""
    out = np.zeros((len(basis[0]), 3))
    for c in range(3):
        val = np.zeros(len(basis[0]))
        for j in range(10):
            val = val + noise(seed, stream, (row * 3 + c) * 10 + j) * basis[j]
        out[:, c] = val
    return out


def generate(seed=0):
    """Canonical FLAME arrays (SPEC sec. 6 names/layouts): float32, indices int32."""
    xn, yn, zn = sphere_dirs()

    # Template: ellipsoid head (x 0.078, y 0.1, z 0.092), neck below yn = -0.6, nose bump.
    rho = np.sqrt(xn * xn + zn * zn)               # = sin(theta); exact enough and portable
    neck = yn < -0.6
    grow = np.where(neck, np.maximum(rho, 0.5) / np.maximum(rho, 1e-12), 1.0)
    y = np.where(neck, 0.1 * yn - 0.08 * (-0.6 - yn), 0.1 * yn)
    n = 1.0 - (xn * xn / 0.03 + (yn + 0.05) * (yn + 0.05) / 0.04)
    nose = np.where(zn > 0.0, np.maximum(n, 0.0), 0.0)
    v_template = np.stack([0.078 * xn * grow, y, 0.092 * zn * grow + 0.015 * nose * nose], axis=1)

    # Skinning weights: root at the neck's bottom, neck everywhere, jaw on the lower front
    # face, eyes around the eye directions; normalised rows.
    w0 = _clamp01((-0.8 - yn) * 5.0)
    w1 = 1.0 - w0
    w2 = _clamp01((-0.05 - yn) * 4.0) * _clamp01((zn - 0.2) * 3.0) * (1.0 - w0)
    eyes = []
    for ex in (0.3, -0.3):
        dx, dy, dz = xn - ex, yn - 0.22, zn - 0.93
        e = np.maximum(1.0 - (dx * dx + dy * dy + dz * dz) / 0.05, 0.0)
        eyes.append(2.0 * e * e)
    raw = [w0, w1, w2, eyes[0], eyes[1]]
    total = raw[0] + raw[1] + raw[2] + raw[3] + raw[4]
    weights = np.stack([w / total for w in raw], axis=1).astype(np.float32)
    w64 = weights.astype(np.float64)  # later fields use the float32-rounded weights

    # J_regressor: a few dozen vertices per joint, hashed positive weights summing to 1.
    J_regressor = np.zeros((5, V), dtype=np.float32)
    for k, (rings, cols) in enumerate(JREG_SUPPORT):
        idx = np.array([1 + r * NUM_COLS + c for r in rings for c in cols])
        w = 1.0 + unit(seed, S_JREG, k * V + idx)
        s = 0.0
        for x in w:  # sequential sum
            s += float(x)
        J_regressor[k, idx] = (w / s).astype(np.float32)

    basis = _basis(xn, yn, zn)
    # Shape (0..299) everywhere; expression (300..399) on the lower front face.
    mouth = _clamp01((0.1 - yn) * 3.0) * _clamp01(zn * 2.0)
    shapedirs = np.zeros((V, 3, NUM_SHAPE + NUM_EXPR), dtype=np.float32)
    for k in range(NUM_SHAPE + NUM_EXPR):
        f = _field(seed, S_SHAPE, k, basis)
        if k < NUM_SHAPE:
            shapedirs[:, :, k] = f * (0.006 / (1.0 + k / 50.0))
        else:
            shapedirs[:, :, k] = f * (0.004 / (1.0 + (k - NUM_SHAPE) / 25.0)) * mouth[:, None]

    # Pose correctives: feature p belongs to joint 1 + p // 9, masked by that joint's weight.
    posedirs = np.zeros((36, V * 3), dtype=np.float32)
    for p in range(36):
        f = _field(seed, S_POSE, p, basis) * 0.004 * w64[:, 1 + p // 9][:, None]
        posedirs[p] = f.reshape(-1)

    # Landmark embedding: one of the quad's two triangles, hashed barycentrics summing to 1.
    tri = _bits(seed, S_LMKTRI, np.arange(68)) & np.uint64(1)
    lmk_faces_idx = np.array([NUM_COLS + 2 * (r * NUM_COLS + c) for r, c in LMK_QUADS]) + tri
    b = 1.0 + unit(seed, S_BARY, np.arange(68 * 3)).reshape(68, 3)
    lmk_bary_coords = b / (b[:, 0:1] + b[:, 1:2] + b[:, 2:3])

    return {
        "v_template": v_template.astype(np.float32),
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": J_regressor,
        "weights": weights,
        "parents": np.array(PARENTS, dtype=np.int32),
        "faces": _faces(),
        "lmk_faces_idx": lmk_faces_idx.astype(np.int32),
        "lmk_bary_coords": lmk_bary_coords.astype(np.float32),
    }


def dynamic_contour(flame):
    """A synthetic dynamic contour (FLAME's flame_dynamic_embedding.npy layout, as arrays):
    79 yaw rows x 17 points, rows 0..39 for 0..39 degrees, 40..78 for -1..-39. Row 0 is the
    frontal contour (landmarks 0..16); row k moves each point trunc(yaw / 5) quads around the
    head and blends its barycentrics towards a corner by a weight distinct per row. Returns
    dynamic_lmk_faces_idx (79, 17) int32 and dynamic_lmk_bary_coords (79, 17, 3) float32;
    bit-identical to syntheticDynamicContour in src/model/synthetic-flame.ts."""
    idx0 = np.asarray(flame["lmk_faces_idx"], dtype=np.int64)[:17]
    b0 = np.asarray(flame["lmk_bary_coords"], dtype=np.float32)[:17].astype(np.float64)
    tgt = np.full((17, 3), 0.1)
    tgt[np.arange(17), np.arange(17) % 3] = 0.8
    faces = np.zeros((79, 17), dtype=np.int64)
    bary = np.zeros((79, 17, 3))
    for k in range(79):
        y = k if k <= 39 else 39 - k
        shift = int(y / 5)
        w = (y if y >= 0 else 0.5 - y) / 40
        for i, (r, c) in enumerate(LMK_QUADS[:17]):
            base = NUM_COLS + 2 * (r * NUM_COLS + c)
            faces[k, i] = NUM_COLS + 2 * (r * NUM_COLS + (c + shift) % NUM_COLS) + (idx0[i] - base)
        bary[k] = (1.0 - w) * b0 + w * tgt
    return {"dynamic_lmk_faces_idx": faces.astype(np.int32), "dynamic_lmk_bary_coords": bary.astype(np.float32)}


def checksums(flame):
    """sha256 of each canonical array's little-endian bytes (to check a port of generate())."""
    import hashlib
    return {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in flame.items()}


# ---------------------------------------------------------------------------------------------
# The published formats: generic_model.pkl (Python 2 pickle, protocol 2, chumpy arrays,
# scipy.sparse J_regressor), an .npz with the same arrays, and the landmark embedding pickle.

def install_chumpy_stub():
    """Registers a stand-in `chumpy.ch.Ch` (chumpy itself is not installed): it pickles and
    unpickles like chumpy's Ch, whose state is its __dict__ minus `_parents`/`_cache`, the
    array in key `x`."""
    if "chumpy.ch" in sys.modules and hasattr(sys.modules["chumpy.ch"], "Ch"):
        return sys.modules["chumpy.ch"].Ch
    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch(object):
        def __init__(self, x=None):
            self.__dict__.update({"_dirty_vars": set(), "_itr": None, "_make_dense": False,
                                  "_make_sparse": False, "_depends_on_deps": {},
                                  "x": np.asarray(x, dtype=np.float64)})

        def __setstate__(self, d):
            self.__dict__.update(d)

        @property
        def r(self):
            return self.x

        def __array__(self, *args):
            return np.asarray(self.x, *args)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = pkg.Ch = Ch
    pkg.ch = mod
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, mod
    return Ch


class _Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for FLAME: byte strings as (SHORT_)BINSTRING
    (array data included; readers need encoding="latin1"), and J_regressor's class under its
    old path `scipy.sparse.csc`. Python 3 would write bytes as _codecs.encode(...) calls."""
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, data):
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)

    def save_bytes(self, obj):
        self._save_py2_str(obj)
        self.memoize(obj)

    def save_str(self, obj):
        if obj.isascii():
            self._save_py2_str(obj.encode("ascii"))
            self.memoize(obj)
        else:
            pickle._Pickler.save_str(self, obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str

    def save_global(self, obj, name=None):
        import scipy.sparse
        if obj is scipy.sparse.csc_matrix:
            self.write(pickle.GLOBAL + b"scipy.sparse.csc\ncsc_matrix\n")
            self.memoize(obj)
        else:
            pickle._Pickler.save_global(self, obj, name)

    def reducer_override(self, obj):
        import copyreg
        import scipy.sparse
        if isinstance(obj, scipy.sparse.csc_matrix):  # the attributes old scipy pickled
            state = {"_shape": obj.shape, "maxprint": 50, "format": "csc", "data": obj.data,
                     "indices": obj.indices, "indptr": obj.indptr}
            return copyreg.__newobj__, (scipy.sparse.csc_matrix,), state
        return NotImplemented


def to_published(flame):
    """Canonical arrays -> the dict stored in FLAME's generic_model.pkl (float64, posedirs
    (V, 3, 36), J_regressor csc_matrix, kintree_table with -1 as 4294967295, f uint32)."""
    import scipy.sparse
    Ch = install_chumpy_stub()
    v = len(flame["v_template"])
    posedirs = flame["posedirs"].astype(np.float64).T.reshape(v, 3, -1)
    parents = flame["parents"].astype(np.int64) & M32
    jreg = flame["J_regressor"].astype(np.float64)
    return {
        "f": flame["faces"].astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(jreg),
        "kintree_table": np.stack([parents, np.arange(len(parents))]).astype(np.uint32),
        "J": jreg @ flame["v_template"].astype(np.float64),
        "weights": flame["weights"].astype(np.float64),
        "posedirs": posedirs,
        "v_template": Ch(flame["v_template"].astype(np.float64)),
        "shapedirs": Ch(flame["shapedirs"].astype(np.float64)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_generic_model_pkl(path, flame):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(to_published(flame))
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write_landmark_embedding_pkl(path, flame):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump({
        "lmk_faces_idx": flame["lmk_faces_idx"].astype(np.int64),
        "lmk_bary_coords": flame["lmk_bary_coords"].astype(np.float64),
    })
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write_npz(path, flame):
    """The pkl's arrays as plain numpy (J_regressor dense, shapedirs/v_template unwrapped),
    published layout, plus the landmark embedding."""
    pub = to_published(flame)
    arrays = {k: (np.asarray(v.x) if hasattr(v, "x") else v) for k, v in pub.items()
              if k not in ("bs_style", "bs_type")}
    arrays["J_regressor"] = pub["J_regressor"].toarray()
    arrays["lmk_faces_idx"] = flame["lmk_faces_idx"].astype(np.int64)
    arrays["lmk_bary_coords"] = flame["lmk_bary_coords"].astype(np.float64)
    np.savez(path, **arrays)


def write_safetensors(path, flame, extra_metadata=None):
    """Canonical FLAME file (the converter's output format): f32 arrays, i32 indices."""
    from . import safetensors_np
    meta = {"format": "trans3dhead-flame", "synthetic": "true"}
    meta.update(extra_metadata or {})
    safetensors_np.save(path, flame, meta)


def write_dynamic_embedding_npy(path, flame):
    """FLAME's flame_dynamic_embedding.npy layout for `flame`'s dynamic contour
    (dynamic_contour(flame) when it has none): np.save of a dict of Python lists, 79 arrays
    (17,) of face indices and 79 arrays (17, 3) of barycentrics, one per yaw row."""
    d = flame if "dynamic_lmk_faces_idx" in flame else dynamic_contour(flame)
    table = {"lmk_face_idx": [np.asarray(r, np.int64) for r in d["dynamic_lmk_faces_idx"]],
             "lmk_b_coords": [np.asarray(r, np.float64) for r in d["dynamic_lmk_bary_coords"]]}
    np.save(path, np.array(table, dtype=object), allow_pickle=True)


def load_published(pkl_path, embedding_path=None, dynamic_path=None):
    """generic_model.pkl (+ landmark embedding pickle, + flame_dynamic_embedding.npy) ->
    canonical arrays, as the converter must do it: posedirs (V,3,36) -> (V*3,36) ->
    transposed; J_regressor densified; the dynamic contour as (79, 17) and (79, 17, 3)."""
    install_chumpy_stub()
    with open(pkl_path, "rb") as f:
        d = pickle.load(f, encoding="latin1")
    arr = lambda x: np.asarray(x.x if hasattr(x, "x") else x)
    v = arr(d["v_template"])
    posedirs = arr(d["posedirs"])
    parents = d["kintree_table"][0].astype(np.int64)
    parents[parents == M32] = -1
    out = {
        "v_template": v.astype(np.float32),
        "shapedirs": arr(d["shapedirs"]).astype(np.float32),
        "posedirs": posedirs.reshape(-1, posedirs.shape[-1]).T.astype(np.float32),
        "J_regressor": d["J_regressor"].toarray().astype(np.float32),
        "weights": arr(d["weights"]).astype(np.float32),
        "parents": parents.astype(np.int32),
        "faces": d["f"].astype(np.int32),
    }
    if embedding_path:
        with open(embedding_path, "rb") as f:
            e = pickle.load(f, encoding="latin1")
        out["lmk_faces_idx"] = np.asarray(e["lmk_faces_idx"]).astype(np.int32)
        out["lmk_bary_coords"] = np.asarray(e["lmk_bary_coords"]).astype(np.float32)
    if dynamic_path:
        e = np.load(dynamic_path, allow_pickle=True, encoding="latin1")[()]
        out["dynamic_lmk_faces_idx"] = np.asarray(e["lmk_face_idx"]).astype(np.int32)
        out["dynamic_lmk_bary_coords"] = np.asarray(e["lmk_b_coords"]).astype(np.float32)
    return out
