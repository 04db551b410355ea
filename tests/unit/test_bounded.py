"""`BoundedLines`, the stream between a file and Arrow's parser: what it hands on, request by
request. The files are written here; each expected value is the file's own bytes."""

from __future__ import annotations

from pathlib import Path

from parcours.collect.bounded import CHUNK_BYTES, BoundedLines, ByteSource

LIMIT = 4096


def _read_all(path: Path, request: int) -> tuple[bytes, BoundedLines]:
    """Everything the stream hands on, asked for `request` bytes at a time (Arrow asks its
    block size), and the stream, to look at its cuts."""
    lines = BoundedLines(ByteSource(path), LIMIT)
    pieces = []
    while piece := lines.read(request):
        pieces.append(piece)
    # Every request but the last is filled whole: the parser counts on blocks of its size.
    assert all(len(piece) == request for piece in pieces[:-1])
    return b"".join(pieces), lines


def test_requests_of_any_size_hand_on_the_file_byte_for_byte(tmp_path: Path) -> None:
    """Three chunks' worth of lines, asked for in requests that end mid-chunk and mid-line."""
    path = tmp_path / "clean.csv"
    path.write_bytes(b"".join(b"%d,caf\xc3\xa9 n\xc2\xb0%d\n" % (i, i) for i in range(200_000)))
    assert path.stat().st_size > 3 * CHUNK_BYTES
    for request in (1_000_003, 7 * CHUNK_BYTES + 5, 10 * CHUNK_BYTES):
        handed, lines = _read_all(path, request)
        assert handed == path.read_bytes()
        assert lines.cuts == []


def test_cut_lines_are_the_same_whatever_the_request_size(tmp_path: Path) -> None:
    """A line over the limit and a line that is not UTF-8, each on a chunk boundary's far
    side: both are cut, and the bytes handed on do not depend on how they are asked for."""
    good = b"".join(b"%d,ok\n" % i for i in range(300_000))
    path = tmp_path / "bad.csv"
    path.write_bytes(good + b"9,caf\xe9\n" + b"x" * (3 * LIMIT) + b"\n" + good)
    whole, lines = _read_all(path, 64 * CHUNK_BYTES)
    odd, _ = _read_all(path, 999_983)
    assert odd == whole
    assert [cut.kind for cut in lines.cuts] == ["not_utf8", "long"]
    assert whole.startswith(good) and whole.endswith(good)
