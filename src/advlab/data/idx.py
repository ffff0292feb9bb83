"""IDX files (LeCun's MNIST format, also Fashion-MNIST's), read in place with numpy.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then `ndim` big-endian uint32
dimensions, then the values in C order. Files may be gzip-compressed (``.gz`` or gzip magic
bytes); they are decompressed in memory, never copied. A file whose magic number, type code
or length does not match is refused with `IdxFormatError`, whose message names the path.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported when a file is read, not when datasets are listed
    import numpy as np

IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
"""IDX type code -> numpy dtype string (multi-byte values are big-endian)."""
GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(ValueError):
    """An IDX file that is truncated, corrupt or not IDX at all; the message names the path."""


def _raw_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip-compressed."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:  # truncated or corrupt stream
        raise IdxFormatError(f"{path}: corrupt or truncated gzip data ({error})") from error


def parse_idx(data: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a read-only array of the stored shape and dtype (native order).

    Refuses (IdxFormatError naming `path`) a wrong magic number, an unknown type code, and a
    payload shorter or longer than the header's dimensions say.
    """
    import numpy as np

    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IdxFormatError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'})")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise IdxFormatError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{path}: IDX file {what}: {len(data)} bytes, the header {dims} says {expected}"
        )
    values = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="), copy=False)


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int, inode: int) -> np.ndarray:
    array = parse_idx(_raw_bytes(Path(path)), path)
    array.flags.writeable = False  # shared between callers: nobody may change it
    return array


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in IDX file `path` (gzip or plain). Cached per (path, mtime, size, inode):
    training and evaluation read the same 47 MB of Fashion-MNIST once."""
    path = Path(path)
    stat = path.stat()
    return _read_cached(str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` (uint8, int8, int16, int32, float32 or float64) as an IDX file, gzipped
    when `compress` is true (default: when the name ends in .gz). Used by tests and tools."""
    import numpy as np

    path = Path(path)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}
    dtype = np.dtype(array.dtype).newbyteorder("=")
    if dtype not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    head = bytes([0, 0, codes[dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=IDX_TYPES[codes[dtype]]).tobytes()
    data = head + body
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path
