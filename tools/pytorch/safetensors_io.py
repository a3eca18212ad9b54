#!/usr/bin/python3
"""Read and write the safetensors format by hand (Debian ships no python3-safetensors).

Layout of a file:
  bytes 0..8     u64 little-endian N = length of the JSON header in bytes
  bytes 8..8+N   UTF-8 JSON object, padded with spaces (0x20) so that 8+N is a multiple of 8:
                   {"__metadata__": {str: str, ...},            (optional)
                    name: {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...}
  bytes 8+N..    the data buffer: each tensor's raw little-endian row-major (C order) bytes;
                 data_offsets are relative to the start of this buffer, end exclusive.

read_file() validates strictly: header length in range, JSON object without duplicate keys,
known dtypes, non-negative integer shapes, end - begin == numel * itemsize, and the tensors,
sorted by begin, tile the buffer exactly (contiguous from 0 to its end, no gaps, no overlap).
Arrays are returned as numpy arrays (copies, native byte order); tensors keep file order.
"""
import json
import struct

import numpy as np

DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
}
_NP_TO_ST = {np.dtype(v).str: k for k, v in DTYPES.items()}

MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A file or an input that does not follow the format."""


def _dtype_name(arr):
    name = _NP_TO_ST.get(arr.dtype.newbyteorder("<").str)
    if name is None:
        raise SafetensorsError(f"unsupported dtype {arr.dtype} (supported: {', '.join(DTYPES)})")
    return name


def to_numpy(value):
    """numpy array from a numpy array or a torch tensor (detached, on CPU)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def dumps(tensors, metadata=None):
    """bytes of a safetensors file holding `tensors` (name -> array/tensor, in that order)."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError(f"metadata must map str to str, got {k!r}: {type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, value in tensors.items():
        if name == "__metadata__" or not isinstance(name, str) or not name:
            raise SafetensorsError(f"bad tensor name {name!r}")
        arr = to_numpy(value)
        st = _dtype_name(arr)
        data = np.ascontiguousarray(arr, dtype=DTYPES[st]).tobytes(order="C")
        header[name] = {"dtype": st, "shape": [int(d) for d in arr.shape],
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write_file(path, tensors, metadata=None):
    """Write `tensors` (name -> array/tensor) and `metadata` (str -> str) to `path`."""
    blob = dumps(tensors, metadata)
    with open(path, "wb") as f:
        f.write(blob)
    return len(blob)


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise SafetensorsError(f"duplicate key {k!r} in header")
        out[k] = v
    return out


def loads(blob, source="<bytes>"):
    """(tensors, metadata) from the bytes of a safetensors file; tensors in header order."""
    if len(blob) < 8:
        raise SafetensorsError(f"{source}: {len(blob)} bytes, too short for the header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n < 2 or n > MAX_HEADER or 8 + n > len(blob):
        raise SafetensorsError(f"{source}: header length {n} out of range (file is {len(blob)} bytes)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{source}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{source}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SafetensorsError(f"{source}: __metadata__ must map str to str")
    data = memoryview(blob)[8 + n:]
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{source}: tensor {name!r} needs exactly dtype, shape, data_offsets")
        dt = DTYPES.get(info["dtype"])
        if dt is None:
            raise SafetensorsError(f"{source}: tensor {name!r} has unsupported dtype {info['dtype']!r}")
        shape, offs = info["shape"], info["data_offsets"]
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise SafetensorsError(f"{source}: tensor {name!r} has bad shape {shape!r}")
        if not isinstance(offs, list) or len(offs) != 2 or not all(
                isinstance(o, int) and not isinstance(o, bool) for o in offs):
            raise SafetensorsError(f"{source}: tensor {name!r} has bad data_offsets {offs!r}")
        begin, end = offs
        if begin < 0 or end < begin or end > len(data):
            raise SafetensorsError(f"{source}: tensor {name!r} offsets [{begin}, {end}] outside "
                                   f"the {len(data)}-byte data buffer")
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != numel * dt.itemsize:
            raise SafetensorsError(f"{source}: tensor {name!r} {info['dtype']}{shape} needs "
                                   f"{numel * dt.itemsize} bytes, offsets give {end - begin}")
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            what = "overlaps the previous tensor" if begin < pos else f"leaves a gap of {begin - pos} bytes"
            raise SafetensorsError(f"{source}: tensor {name!r} at {begin} {what}")
        pos = end
    if pos != len(data):
        raise SafetensorsError(f"{source}: {len(data) - pos} trailing bytes after the last tensor")
    tensors = {}
    for name, info in header.items():
        dt = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=dt).reshape(info["shape"])
        tensors[name] = arr.astype(dt.newbyteorder("="), copy=True)
    return tensors, metadata


def read_file(path):
    """(tensors, metadata) from the safetensors file at `path`."""
    with open(path, "rb") as f:
        blob = f.read()
    return loads(blob, source=path)


def _self_test():
    rng = np.random.default_rng(0)
    t = {"a": rng.standard_normal((2, 3)).astype(np.float32),
         "b": np.arange(5, dtype=np.int64),
         "c": np.float64(3.5) * np.ones(()),
         "d": np.zeros((0, 4), dtype=np.int32)}
    blob = dumps(t, {"k": "v"})
    assert (struct.unpack("<Q", blob[:8])[0] + 8) % 8 == 0
    got, meta = loads(blob)
    assert meta == {"k": "v"} and list(got) == list(t)
    for k in t:
        assert got[k].dtype == t[k].dtype and got[k].shape == t[k].shape
        assert np.array_equal(got[k], t[k])
    n = struct.unpack("<Q", blob[:8])[0]
    bad = [blob[:-1], blob + b"\0", blob[:8 + n - 1]]
    hdr = json.loads(blob[8:8 + n])
    hdr["a"]["data_offsets"][1] += 4
    bad.append(dumps_raw(hdr, blob[8 + n:]))
    hdr = json.loads(blob[8:8 + n])
    hdr["b"]["dtype"] = "F16"
    bad.append(dumps_raw(hdr, blob[8 + n:]))
    hdr = json.loads(blob[8:8 + n])
    hdr["a"]["shape"] = [3, 3]
    bad.append(dumps_raw(hdr, blob[8 + n:]))
    for i, b in enumerate(bad):
        try:
            loads(b)
        except SafetensorsError:
            continue
        raise AssertionError(f"bad blob {i} accepted")
    print("safetensors_io self-test passed")


def dumps_raw(header, data):
    """bytes of a file with this exact header dict and data buffer (for tests)."""
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


if __name__ == "__main__":
    _self_test()
