"""The IDX file format of MNIST, read without any dependency.

An IDX file is a big-endian header - two zero bytes, a type code (0x08 = unsigned byte), the number
of dimensions d - then d uint32 sizes, then the data. MNIST's images are `idx3-ubyte` (magic 0x803,
N x 28 x 28) and its labels `idx1-ubyte` (magic 0x801, N). Files may be gzip-compressed.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from datamodules.errors import MissingDataError

UNSIGNED_BYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def read_idx_ubyte(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array stored in the IDX file `path` (plain or gzip), which must have `ndim` dimensions.

    Raises `MissingDataError` naming the file if the header is not that of an unsigned-byte IDX
    file of `ndim` dimensions, or the data is shorter or longer than the header announces.
    """
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise MissingDataError(f"{path} is a damaged gzip file ({error})") from None
    expected_magic = (UNSIGNED_BYTE << 8) | ndim
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected_magic:
        found = "too short for a header" if magic is None else f"magic number {magic:#x}"
        raise MissingDataError(
            f"{path} is not an IDX file of {ndim}-dimensional unsigned bytes "
            f"(expected magic number {expected_magic:#x}, found {found})"
        )
    header_size = 4 + 4 * ndim
    shape = tuple(int(size) for size in np.frombuffer(raw[4:header_size], dtype=">u4"))
    data = np.frombuffer(raw, dtype=np.uint8, offset=min(header_size, len(raw)))
    if len(shape) != ndim or data.size != int(np.prod(shape)):
        raise MissingDataError(
            f"{path}: the IDX header announces shape {shape} but the file holds {data.size} data bytes"
        )
    return data.reshape(shape)
