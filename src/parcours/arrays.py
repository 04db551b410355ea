"""Arrow columns as numpy arrays, read from their buffers.

Arrow's own `to_numpy` goes through its pandas conversion code, which imports pandas (about a
quarter of a second) the first time any column is converted, in every process: more than a
journey analysis takes. The walks read plain integers, floats and booleans without nulls,
whose buffers numpy reads as they are (no copy for a column of one chunk); anything else is
left to Arrow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa


def numpy_of(values: pa.Array | pa.ChunkedArray, nulls: Any = None) -> npt.NDArray[Any]:
    """`values` as a numpy array (read-only when it shares Arrow's memory), nulls as `nulls`
    when given; a dictionary column gives its indices."""
    if nulls is not None and values.null_count:
        values = values.fill_null(nulls)
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    parts = [_chunk(chunk) for chunk in chunks]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return np.empty(0, dtype=_dtype(values.type))
    return np.concatenate(parts)


def _chunk(chunk: pa.Array) -> npt.NDArray[Any]:
    kind = chunk.type
    if pa.types.is_dictionary(kind):
        return _chunk(chunk.indices)
    if chunk.null_count:
        return np.asarray(chunk.to_numpy(zero_copy_only=False))
    data = chunk.buffers()[1]
    if pa.types.is_boolean(kind):
        bits = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
        unpacked = np.unpackbits(bits, count=chunk.offset + len(chunk), bitorder="little")
        return unpacked[chunk.offset :].view(np.bool_)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        dtype = _dtype(kind)
        if data is None or not len(chunk):
            return np.empty(0, dtype=dtype)
        return np.frombuffer(
            data, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize
        )
    return np.asarray(chunk.to_numpy(zero_copy_only=False))


def _dtype(kind: pa.DataType) -> np.dtype[Any]:
    if pa.types.is_dictionary(kind):
        kind = kind.index_type
    dtype: np.dtype[Any] = np.dtype(kind.to_pandas_dtype())
    return dtype
