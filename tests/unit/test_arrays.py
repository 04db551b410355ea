"""`numpy_of` reads Arrow's buffers: the same values as Arrow's own conversion, for every
shape a walk meets (offsets of a slice, several chunks, booleans, dictionaries, nulls)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from parcours.arrays import numpy_of

CASES = [
    pa.array([5, -1, 7, 2**40], pa.int64()),
    pa.array([1, 2, 3, 4, 5, 6], pa.uint8()).slice(2, 3),
    pa.array([1.5, -2.25, 3.0], pa.float64()),
    pa.array([True, False, True, True, False, False, True, False, True, True]).slice(3, 6),
    pa.array([None, 1, 2], pa.int32()),
    pa.chunked_array([[1, 2], [], [3, 4, 5]], pa.int16()),
    pa.chunked_array([[True], [False, True]]),
    pa.array(["b", "a", "b"]).dictionary_encode(),
    pa.chunked_array([], pa.int64()),
]


@pytest.mark.parametrize("values", CASES, ids=range(len(CASES)))
def test_numpy_of_equals_arrows_own_conversion(values: pa.Array | pa.ChunkedArray) -> None:
    if isinstance(values, pa.ChunkedArray):
        expected = np.concatenate(
            [numpy_reference(c) for c in values.chunks] or [np.empty(0, np.int64)]
        )
    else:
        expected = numpy_reference(values)
    got = numpy_of(values)
    np.testing.assert_array_equal(got, expected)  # NaN (a null integer) equals NaN here
    assert got.dtype == expected.dtype and len(got) == len(values)


def numpy_reference(chunk: pa.Array) -> np.ndarray:
    if pa.types.is_dictionary(chunk.type):
        chunk = chunk.indices
    return np.asarray(chunk.to_numpy(zero_copy_only=False))


def test_numpy_of_does_not_import_pandas() -> None:
    """Why it exists: Arrow's conversion imports pandas, a quarter of a second per command."""
    code = (
        "import sys, duckdb; from parcours.arrays import numpy_of; "
        "t = duckdb.sql('SELECT range AS n, range % 2 = 0 AS b FROM range(5)').to_arrow_table(); "
        "numpy_of(t['n']); numpy_of(t['b']); print('pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
