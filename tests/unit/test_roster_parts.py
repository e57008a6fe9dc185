"""Splitting a big roster at school boundaries."""

import hashlib
import io

from cers_groups.roster_parts import split_roster
from tests.rosters import check, roster, row

SCHOOLS = [f"991234501{n:05d}" for n in range(4)]


def _school_rows(school: str, count: int) -> list[str]:
    return [row(school=school, ssid=f"{n:010d}") for n in range(count)]


class _Parts(dict):
    """Collects what split_roster writes, part number -> bytes."""

    def open(self, number: int) -> io.BytesIO:
        parts = self

        class _Part(io.BytesIO):
            def close(self) -> None:
                parts[number] = self.getvalue()
                super().close()

        return _Part()


def _split(data: bytes, row_limit: int, byte_limit: int = 10**9):
    parts = _Parts()
    result = split_roster(lambda: io.BytesIO(data), parts.open, row_limit, byte_limit)
    return result, parts


def test_split_roster_packs_whole_schools_up_to_the_row_limit() -> None:
    rows = [
        *_school_rows(SCHOOLS[0], 3),
        *_school_rows(SCHOOLS[1], 4),
        *_school_rows(SCHOOLS[2], 2),
        *_school_rows(SCHOOLS[3], 5),
    ]  # 3 + 4 fill a part; 2 + 5 the next

    result, parts = _split(roster(*rows), row_limit=7)

    assert [(p.number, p.rows, p.first_row) for p in result.parts] == [(1, 7, 1), (2, 7, 8)]
    assert parts[1] == roster(*rows[:7])
    assert parts[2] == roster(*rows[7:])
    for part in result.parts:
        assert (
            part.digest
            == hashlib.md5(parts[part.number], usedforsecurity=False).hexdigest().upper()
        )
        assert part.size == len(parts[part.number])
        assert check(parts[part.number]).valid


def test_split_roster_respects_the_byte_limit() -> None:
    rows = [*_school_rows(SCHOOLS[0], 2), *_school_rows(SCHOOLS[1], 2)]
    data = roster(*rows)
    header = len(roster())
    one_school = len(roster(*rows[:2])) - header

    result, _ = _split(data, row_limit=100, byte_limit=header + one_school)

    assert [p.rows for p in result.parts] == [2, 2]


def test_split_roster_school_over_the_limit_writes_nothing() -> None:
    rows = [*_school_rows(SCHOOLS[0], 2), *_school_rows(SCHOOLS[1], 6)]

    result, parts = _split(roster(*rows), row_limit=5)

    assert (result.school_too_big, result.school_rows) == (3, 6)
    assert result.parts == []
    assert parts == {}


def test_split_roster_small_file_is_one_part() -> None:
    data = roster(*_school_rows(SCHOOLS[0], 3))

    result, parts = _split(data, row_limit=10)

    assert [p.rows for p in result.parts] == [3]
    assert parts[1] == data


def test_split_roster_keeps_line_endings_and_drops_a_bom() -> None:
    rows = [*_school_rows(SCHOOLS[0], 1), *_school_rows(SCHOOLS[1], 1)]
    data = b"\xef\xbb\xbf" + roster(*rows, newline="\n")

    result, parts = _split(data, row_limit=1)

    assert parts[1] == roster(rows[0], newline="\n")
    assert parts[2] == roster(rows[1], newline="\n")
