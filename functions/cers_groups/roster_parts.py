"""Splitting a roster that is too big for one upload into parts, at school boundaries.

A part never splits a school, so never a group: CERS replaces each group in a file with the
file's rows for it, and a group spread over two files would keep only the second file's rows.
That is why only a file that passed every other rule (schools contiguous) may be split.

Two passes over the file, both streaming: the first measures each school's block (rows and
bytes), the second copies lines into the parts, each starting with the header. Memory holds
one entry per school.
"""

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from cers_groups.roster_rules import MAX_FILE_BYTES

SCHOOL = 1


@dataclass
class Part:
    number: int
    rows: int = 0
    size: int = 0
    digest: str = ""
    first_row: int = 0  # row of the whole file that starts this part
    key: str = ""  # where the caller stored it
    version_id: str | None = None


@dataclass
class SplitResult:
    """The parts written, or the row of a school too big for any part (nothing written)."""

    parts: list[Part] = field(default_factory=list)
    school_too_big: int | None = None
    school_rows: int = 0


@dataclass
class _Block:
    first_row: int
    rows: int = 0
    size: int = 0


def split_roster(
    open_source: Callable[[], BinaryIO],
    open_part: Callable[[int], BinaryIO],
    row_limit: int,
    byte_limit: int = MAX_FILE_BYTES,
) -> SplitResult:
    """Splits the roster ``open_source()`` returns into parts of at most ``row_limit`` rows
    and ``byte_limit`` bytes; ``open_part(n)`` gives a writable stream for part n (from 1).
    """
    with open_source() as source:
        header, blocks = _measure(source)

    plan = _plan(blocks, row_limit, byte_limit - len(header.encode()))
    if isinstance(plan, _Block):
        return SplitResult(school_too_big=plan.first_row, school_rows=plan.rows)

    with open_source() as source:
        return SplitResult(parts=list(_write(source, header, plan, open_part)))


def _lines(source: BinaryIO) -> Iterator[str]:
    text = io.TextIOWrapper(_Reader(source), encoding="utf-8-sig", newline="")
    yield from text


def _measure(source: BinaryIO) -> tuple[str, list[_Block]]:
    """The header line and each school block's first row, rows and bytes."""
    lines = _lines(source)
    header = next(lines, "")
    blocks: list[_Block] = []
    school = None
    for row, line in enumerate(lines, start=1):
        line_school = line.split(",", 2)[SCHOOL] if "," in line else ""
        if line_school != school or not blocks:
            school = line_school
            blocks.append(_Block(row))
        blocks[-1].rows += 1
        blocks[-1].size += len(line.encode())
    return header, blocks


def _plan(blocks: list[_Block], row_limit: int, byte_limit: int) -> list[int] | _Block:
    """The first row of each part; or the school block that fits in no part."""
    starts: list[int] = []
    rows = size = 0
    for block in blocks:
        if block.rows > row_limit or block.size > byte_limit:
            return block
        if not starts or rows + block.rows > row_limit or size + block.size > byte_limit:
            starts.append(block.first_row)
            rows = size = 0
        rows += block.rows
        size += block.size
    return starts


def _write(source, header: str, starts: list[int], open_part) -> Iterator[Part]:
    lines = _lines(source)
    next(lines, "")
    boundaries = iter(starts[1:])
    next_start = next(boundaries, None)
    part, out, md5 = _open(1, header, open_part, first_row=starts[0] if starts else 1)
    for row, line in enumerate(lines, start=1):
        if row == next_start:
            yield _close(part, out, md5)
            part, out, md5 = _open(part.number + 1, header, open_part, first_row=row)
            next_start = next(boundaries, None)
        _emit(part, out, md5, line)
    yield _close(part, out, md5)


def _open(number: int, header: str, open_part, first_row: int):
    part = Part(number, first_row=first_row)
    out = open_part(number)
    md5 = hashlib.md5(usedforsecurity=False)
    _emit(part, out, md5, header)
    part.rows = 0
    return part, out, md5


def _emit(part: Part, out: BinaryIO, md5, line: str) -> None:
    data = line.encode()
    out.write(data)
    md5.update(data)
    part.size += len(data)
    part.rows += 1


def _close(part: Part, out: BinaryIO, md5) -> Part:
    out.close()
    part.digest = md5.hexdigest().upper()
    return part


class _Reader(io.RawIOBase):
    """A raw stream over anything with ``read(n)``."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:
        data = self._stream.read(len(buffer)) or b""
        buffer[: len(data)] = data
        return len(data)
