#!/usr/bin/python3
"""Writes the small fixtures for the weight-file tests (test/io-*.test.ts) into test/fixtures/io/.

Run with Debian's Python (torch, numpy, scipy): /usr/bin/python3 python/make_io_fixtures.py
The output is deterministic apart from zip timestamps; the files are committed.
"""
import collections
import copyreg
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile
import zlib

import numpy as np
import scipy.sparse as sp
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'io')


def write(name, data):
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)


def safetensors_bytes(arrays, metadata=None):
    """An independent safetensors writer (numpy only), so the TS reader is checked against it."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    codes = {np.float32: 'F32', np.float64: 'F64', np.int64: 'I64', np.int32: 'I32'}
    for name, a in arrays.items():
        a = np.array(a, order='C')  # (ascontiguousarray would make 0-d arrays 1-d)
        raw = a.astype(a.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': codes[a.dtype.type], 'shape': list(a.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + b''.join(blobs)


# ---------------------------------------------------------------- torch checkpoints

def torch_fixtures():
    g = torch.Generator().manual_seed(0)
    big = torch.randn(4, 5, generator=g)
    shared = torch.randn(10, generator=g)
    sd = collections.OrderedDict()
    sd['module.a_f32'] = torch.randn(3, 4, generator=g)
    sd['module.b_f16'] = torch.randn(2, 3, generator=g).half()
    sd['module.c_bf16'] = torch.randn(2, 3, generator=g).bfloat16()
    sd['module.d_f64'] = torch.randn(5, generator=g).double()
    sd['module.e_num_batches_tracked'] = torch.tensor(7)  # 0-d int64, as BatchNorm's
    sd['module.f_i64'] = torch.arange(-3, 3)
    sd['module.g_bool'] = torch.tensor([True, False, True])
    sd['module.t_transpose'] = big.t()  # non-contiguous view
    sd['module.s_slice'] = big[1:3, 2:]  # storage offset + non-contiguous
    sd['module.share_a'] = shared[:6].view(2, 3)  # two views of one storage
    sd['module.share_b'] = shared[4:]
    assert sd['module.share_a'].storage().data_ptr() == sd['module.share_b'].storage().data_ptr()
    buf = io.BytesIO()
    torch.save({'state_dict': sd, 'epoch': 3, 'note': 'not a tensor'}, buf)
    write('torch_wrapped.pt', buf.getvalue())

    # A plain OrderedDict from a real module (Parameters, BatchNorm buffers).
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model[1].running_mean.uniform_()
    model[1].running_var.uniform_(1, 2)
    model[1].num_batches_tracked.fill_(11)
    plain = model.state_dict()
    torch.save(plain, os.path.join(OUT, 'torch_plain.pt'))  # saved by path: the archive folder is 'torch_plain'

    # {"model": ...} wrapper holding nn.Parameter objects (pickled via _rebuild_parameter).
    buf = io.BytesIO()
    torch.save({'model': collections.OrderedDict((k, torch.nn.Parameter(v.clone())) for k, v in list(plain.items())[:2])}, buf)
    write('torch_model_params.pt', buf.getvalue())

    expected = {k[len('module.'):]: v.float().contiguous().numpy() for k, v in sd.items()}
    expected.update({'plain.' + k: v.float().numpy() for k, v in plain.items()})
    write('torch_expected.safetensors', safetensors_bytes(expected, {'source': 'make_io_fixtures.py'}))

    # Big-endian variant: the same archive with byteswapped storages and a 'byteorder' entry.
    small = collections.OrderedDict([('x', torch.tensor([1.5, -2.0, 3.25])), ('h', torch.tensor([0.5, -1.0], dtype=torch.float16)),
                                     ('n', torch.tensor([1, -2], dtype=torch.int64))])
    buf = io.BytesIO()
    torch.save(small, buf)
    write('torch_bigendian.pt', byteswap_archive(buf.getvalue()))

    # Legacy (pre-1.6) format.
    buf = io.BytesIO()
    torch.save(small, buf, _use_new_zipfile_serialization=False)
    write('torch_legacy.pt', buf.getvalue())


def byteswap_archive(data):
    src = zipfile.ZipFile(io.BytesIO(data))
    prefix = src.namelist()[0].split('/')[0]
    sizes = {}

    class Scan(pickle.Unpickler):
        """Only records each storage's element size; tensors are not rebuilt."""
        def find_class(self, module, name):
            if module == 'torch' and name.endswith('Storage'):
                return name
            if (module, name) == ('collections', 'OrderedDict'):
                return collections.OrderedDict
            return lambda *args: None

        def persistent_load(self, pid):
            sizes[pid[2]] = {'FloatStorage': 4, 'HalfStorage': 2, 'LongStorage': 8}[pid[1]]

    Scan(io.BytesIO(src.read(prefix + '/data.pkl'))).load()
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            raw = src.read(info)
            key = info.filename[len(prefix) + len('/data/'):] if info.filename.startswith(prefix + '/data/') else None
            if key is not None:
                n = sizes[key]
                raw = b''.join(raw[i:i + n][::-1] for i in range(0, len(raw), n))
            z.writestr(info.filename, raw)
        z.writestr(prefix + '/byteorder', 'big')
    return out.getvalue()


# ---------------------------------------------------------------- FLAME

class Py2Pickler(pickle._Pickler):
    """Pickles like Python 2's cPickle protocol 2: str and bytes become (SHORT_)BINSTRING, which
    pickle.load(encoding='latin1') reads back as str. The published generic_model.pkl looks like this."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_str2(self, obj, save_persistent_id=True):
        raw = obj.encode('latin1') if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_str2
    dispatch[bytes] = save_str2


def install_standins():
    """Stand-ins for chumpy.ch.Ch and the old scipy.sparse.csc.csc_matrix name, pickled exactly as
    the real classes (chumpy: instance dict with the array in 'x'; scipy: data/indices/indptr/_shape)."""
    ch_mod = types.ModuleType('chumpy.ch')

    class Ch(object):
        def __init__(self, x, reconstructor=False):
            self.__dict__.update({'x': np.asarray(x, np.float64), '_dirty_vars': set(), '_itr': None,
                                  '_depends_on_deps': {}, '_make_dense': False, '_make_sparse': False})
            self._reconstructor = reconstructor

        def __getstate__(self):  # chumpy drops its weakref caches; the rest of __dict__ is the state
            return {k: v for k, v in self.__dict__.items() if k != '_reconstructor'}

        def __reduce_ex__(self, proto):
            if self._reconstructor:  # the protocol-0/1 style form: copy_reg._reconstructor(cls, object, None)
                return (copyreg._reconstructor, (Ch, object, None), self.__getstate__())
            return (copyreg.__newobj__, (Ch,), self.__getstate__())

    Ch.__module__, Ch.__qualname__ = 'chumpy.ch', 'Ch'
    ch_mod.Ch = Ch
    sys.modules['chumpy'] = types.ModuleType('chumpy')
    sys.modules['chumpy.ch'] = ch_mod

    csc_mod = types.ModuleType('scipy.sparse.csc')

    class csc_matrix(object):
        pass

    csc_matrix.__module__, csc_matrix.__qualname__ = 'scipy.sparse.csc', 'csc_matrix'
    csc_mod.csc_matrix = csc_matrix
    saved = sys.modules.get('scipy.sparse.csc')
    sys.modules['scipy.sparse.csc'] = csc_mod

    def old_csc(m):
        o = csc_matrix.__new__(csc_matrix)
        o.__dict__.update({'_shape': m.shape, 'maxprint': 50, 'format': 'csc', 'data': m.data, 'indices': m.indices, 'indptr': m.indptr})
        return o

    def restore():
        if saved is not None:
            sys.modules['scipy.sparse.csc'] = saved
        else:
            del sys.modules['scipy.sparse.csc']

    return Ch, old_csc, restore


def flame_fixtures():
    rng = np.random.default_rng(0)
    V, F, K, J = 10, 8, 6, 5
    v_template = rng.standard_normal((V, 3))
    shapedirs = rng.standard_normal((V, 3, K))
    posedirs = rng.standard_normal((V, 3, 9 * (J - 1)))
    jreg = rng.random((J, V)) * (rng.random((J, V)) > 0.5)
    weights = rng.random((V, J))
    weights /= weights.sum(1, keepdims=True)
    parents = np.array([-1, 0, 1, 1, 1])
    faces = rng.integers(0, V, (F, 3)).astype(np.uint32)
    kintree = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)

    Ch, old_csc, restore = install_standins()
    try:
        model = {
            'f': faces,
            'J_regressor': old_csc(sp.csc_matrix(jreg)),
            'kintree_table': kintree,
            'J': Ch(jreg @ v_template),
            'weights': Ch(weights),
            'posedirs': posedirs,
            'v_template': Ch(v_template),
            'shapedirs': Ch(shapedirs, reconstructor=True),
            'bs_style': 'lbs',
            'bs_type': 'lrotmin',
        }
        buf = io.BytesIO()
        Py2Pickler(buf, protocol=2).dump(model)
        write('flame_fake.pkl', buf.getvalue())
    finally:
        restore()

    # The modern names through Python 3's own protocol-2 pickler (_codecs.encode for bytes).
    model3 = {'v_template': v_template, 'shapedirs': shapedirs, 'posedirs': posedirs, 'J_regressor': sp.csc_matrix(jreg),
              'weights': weights.astype(np.float32), 'kintree_table': kintree.astype(np.uint32), 'f': faces.astype(np.int64)}
    write('flame_fake_py3.pkl', pickle.dumps(model3, protocol=2))

    # .npz (deflated) with a dense J_regressor and already-converted posedirs (P, V*3).
    posedirs_t = posedirs.reshape(V * 3, -1).T
    buf = io.BytesIO()
    np.savez_compressed(buf, v_template=v_template.astype(np.float32), shapedirs=shapedirs, posedirs=posedirs_t,
                        J_regressor=jreg, weights=weights, kintree_table=kintree, f=faces.astype(np.int32))
    write('flame_fake.npz', buf.getvalue())

    # Landmark embeddings as published: static (51 points, pickle) and dynamic (79 yaw rows x 17, npy of a dict).
    static = {'lmk_face_idx': rng.integers(0, F, 51).astype(np.int64), 'lmk_b_coords': rng.dirichlet([1, 1, 1], 51)}
    write('flame_static_embedding.pkl', pickle.dumps(static, protocol=2))
    dyn = {'lmk_face_idx': rng.integers(0, F, (79, 17)).astype(np.int64), 'lmk_b_coords': rng.dirichlet([1, 1, 1], (79, 17))}
    buf = io.BytesIO()
    np.save(buf, dyn, allow_pickle=True)
    write('flame_dynamic_embedding.npy', buf.getvalue())
    # The published file holds Python lists of per-row arrays (79 of (17,) and 79 of (17, 3)).
    buf = io.BytesIO()
    np.save(buf, {k: list(v) for k, v in dyn.items()}, allow_pickle=True)
    write('flame_dynamic_embedding_lists.npy', buf.getvalue())
    buf = io.BytesIO()  # malformed: rows of different lengths
    np.save(buf, {'lmk_face_idx': [np.zeros(17, np.int64), np.zeros(16, np.int64)], 'lmk_b_coords': [np.full((17, 3), 1 / 3)] * 2}, allow_pickle=True)
    write('flame_dynamic_embedding_ragged.npy', buf.getvalue())

    lmk_idx = np.concatenate([dyn['lmk_face_idx'][0], static['lmk_face_idx']])
    lmk_bary = np.concatenate([dyn['lmk_b_coords'][0], static['lmk_b_coords']])
    expected = {
        'v_template': v_template.ravel().tolist(), 'shapedirs': shapedirs.ravel().tolist(), 'posedirs': posedirs_t.ravel().tolist(),
        'J_regressor': jreg.ravel().tolist(), 'weights': weights.ravel().tolist(), 'parents': parents.tolist(),
        'faces': faces.ravel().tolist(), 'V': V, 'F': F, 'J': J, 'K': K,
        'lmk_faces_idx': lmk_idx.tolist(), 'lmk_bary_coords': lmk_bary.ravel().tolist(),
        'dynamic_lmk_faces_idx': dyn['lmk_face_idx'].ravel().tolist(), 'dynamic_lmk_bary_coords': dyn['lmk_b_coords'].ravel().tolist(),
    }
    with open(os.path.join(OUT, 'flame_expected.json'), 'w') as f:
        json.dump(expected, f)


# ---------------------------------------------------------------- hostile files

def hostile_fixtures():
    import subprocess

    class Evil:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

        def __reduce__(self):
            return (self.fn, self.args)

    write('hostile_os_system.pkl', pickle.dumps(Evil(os.system, ('echo pwned',)), protocol=2))  # posix.system
    write('hostile_os_system_global.pkl', b'\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.')
    write('hostile_eval.pkl', pickle.dumps(Evil(eval, ('1+1',)), protocol=4))  # STACK_GLOBAL builtins.eval
    write('hostile_popen.pkl', pickle.dumps(Evil(subprocess.Popen, (['true'],)), protocol=3))
    write('hostile_popen_py2name.pkl', pickle.dumps(Evil(subprocess.Popen, (['true'],)), protocol=2))  # 'commands Popen'
    # A torch checkpoint whose data.pkl calls os.system: the torch reader must reject it too.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr('archive/data.pkl', pickle.dumps({'w': Evil(os.system, ('echo pwned',))}, protocol=2))
        z.writestr('archive/version', '3\n')
    write('hostile_torch.pt', buf.getvalue())
    # Deep nesting: 5000 nested lists, and 5000 nested MARKs.
    write('hostile_nested_lists.pkl', b'\x80\x02' + b']' * 5000 + b'a' * 4999 + b'.')
    write('hostile_nested_marks.pkl', b'\x80\x02' + b'(' * 5000 + b'N.')
    # A memo with 5000 entries (tests pass a lower cap; a 1M-entry memo is built in the test itself).
    write('hostile_memo.pkl', b'\x80\x02N' + b''.join(b'r' + struct.pack('<I', i) for i in range(5000)) + b'.')

    # Zip bombs. (1) an entry that inflates to far more than it declares.
    payload = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = payload.compress(b'\0' * (1 << 20)) + payload.flush()
    write('bomb_declared.zip', raw_zip([('a.npy', 8, comp, 100, zlib.crc32(b'\0' * 100))]))
    # (2) an impossible declared size (4 GB from a few hundred bytes).
    write('bomb_ratio.zip', raw_zip([('a.npy', 8, comp, 0x7FFFFF00, 0)]))
    # (3) many central-directory entries pointing at the same local data (overlapping entries).
    write('bomb_overlap.zip', raw_zip([('a.npy', 8, comp, 1 << 20, zlib.crc32(b'\0' * (1 << 20)))], repeat=50))


def raw_zip(entries, repeat=1):
    """Hand-built zip so sizes can lie; `repeat` adds central entries that share one local header."""
    out, central = b'', b''
    for name, method, data, usize, crc in entries:
        n = name.encode()
        off = len(out)
        out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 20, 0, method, 0, 0, crc, len(data), usize, len(n), 0) + n + data
        for i in range(repeat):
            nm = n if i == 0 else f'{name}.{i}'.encode()
            central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 20, 20, 0, method, 0, 0, crc, len(data), usize,
                                   len(nm), 0, 0, 0, 0, 0, off) + nm
    count = len(entries) * repeat
    eocd = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, count, count, len(central), len(out), 0)
    return out + central + eocd


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    torch_fixtures()
    flame_fixtures()
    hostile_fixtures()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f'wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}')
