"""A validating reader of the IDX format (LeCun's MNIST files), gzip-compressed or raw.

Layout: two zero bytes, a type byte (0x08 = unsigned byte), a byte giving the number of
dimensions d, then d big-endian uint32 sizes, then the payload in C order.
Every defect (bad gzip stream, wrong magic, wrong shape, short or long payload) raises
:class:`DatasetError` naming the file, never an exception from deep inside numpy.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from datasets.base import DatasetError

UNSIGNED_BYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{path} is a damaged or truncated gzip file ({exc}); delete it and fetch it again") from exc
    return raw


def read_idx(path: str | Path, expected_dims: tuple[int | None, ...]) -> np.ndarray:
    """Read an IDX file of unsigned bytes whose shape must match ``expected_dims``.

    ``None`` in ``expected_dims`` accepts any size along that axis.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DatasetError(f"{path} is truncated: {len(data)} bytes, too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != UNSIGNED_BYTE:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    if ndim != len(expected_dims):
        raise DatasetError(f"{path} has {ndim} dimensions, expected {len(expected_dims)}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    for axis, (got, want) in enumerate(zip(shape, expected_dims)):
        if want is not None and got != want:
            raise DatasetError(f"{path} has size {got} along axis {axis}, expected {want}")
    expected_len = header_len + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected_len:
        kind = "truncated" if len(data) < expected_len else "longer than its header says"
        raise DatasetError(f"{path} is {kind}: {len(data)} bytes, expected {expected_len}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8 array as IDX (gzip when ``compress`` or when the name ends in .gz)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = struct.pack(">HBB", 0, UNSIGNED_BYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload)
    path.write_bytes(payload)
