"""The normalizer: each fix with its change log, what it refuses, and its properties."""

import csv
import hashlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cers_groups.normalize import CHANGES, NormalizeResult, normalize_roster
from cers_groups.roster_report import report_document
from cers_groups.roster_rules import HEADER, HEADER_LINE
from tests.rosters import INVALID, SCHOOL_A, SCHOOL_B, VALID, check, roster, row

# Rules whose problems normalizing removes, unless the row is one CSV cannot read.
FIXED_BY_NORMALIZING = frozenset(
    {
        "blank-line",
        "line-endings-mixed",
        "whitespace-around-value",
        "duplicate-row",
        "school-not-contiguous",
        "group-not-contiguous",
        "header-not-canonical",
    }
)


def _normalize(data: bytes) -> tuple[NormalizeResult, bytes]:
    out = io.BytesIO()
    result = normalize_roster(lambda: io.BytesIO(data), out)
    return result, out.getvalue()


def _changes(data: bytes) -> list[tuple[str, int | None]]:
    result, _ = _normalize(data)
    return list(result.changes)


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))[1:]


# --- each fix ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected", "changes"),
    [
        pytest.param(
            b"\xef\xbb\xbf" + roster(row()), roster(row()), [("bom-removed", None)], id="bom"
        ),
        pytest.param(
            roster(row(login="jos\xe9@x.example.org")).replace(b"\xc3\xa9", b"\xe9"),
            roster(row(login="jos\xe9@x.example.org")),
            [("transcoded", None)],
            id="cp1252",
        ),
        pytest.param(
            roster(row(), header=HEADER_LINE.upper()),
            roster(row()),
            [("header-rewritten", None)],
            id="upper-case-header",
        ),
        pytest.param(
            roster(row(), header=", ".join(f'"{name}"' for name in HEADER)),
            roster(row()),
            [("header-rewritten", None)],
            id="quoted-spaced-header",
        ),
        pytest.param(
            roster(row(), row(ssid="1234567891"), newline="\n"),
            roster(row(), row(ssid="1234567891")),
            [
                ("line-endings-changed", None),
                ("line-endings-changed", 1),
                ("line-endings-changed", 2),
            ],
            id="lf",
        ),
        pytest.param(
            roster(row()) + (row(ssid="1234567891") + "\r").encode(),
            roster(row(), row(ssid="1234567891")),
            [("line-endings-changed", 2)],
            id="mixed",
        ),
        pytest.param(
            roster(row())[:-2], roster(row()), [("line-endings-changed", 1)], id="no-final-break"
        ),
        pytest.param(
            roster(",".join(f'"{value}"' for value in row().split(","))),
            roster(row()),
            [("quotes-removed", 1)],
            id="quoted-values",
        ),
        pytest.param(
            roster(row(school=f" {SCHOOL_A}\t", login=" t@x.example.org ")),
            roster(row(login="t@x.example.org")),
            [("values-trimmed", 1)],
            id="trim",
        ),
        pytest.param(
            roster(row(), "", row(ssid="1234567891"), "   ", ",,,,,", ""),
            roster(row(), row(ssid="1234567891")),
            [
                ("blank-lines-dropped", 1),
                ("values-trimmed", 3),
                ("empty-rows-dropped", 3),
                ("empty-rows-dropped", 4),
                ("blank-lines-dropped", 4),
            ],
            id="blank-and-comma-only",
        ),
        pytest.param(
            roster(row(), row(ssid="1234567891"), row()),
            roster(row(), row(ssid="1234567891")),
            [("duplicate-rows-dropped", 3)],
            id="same-row-twice",
        ),
        pytest.param(
            roster(row(login="t@x.example.org"), row(ssid="", login="t@x.example.org")),
            roster(row(login="t@x.example.org")),
            [("duplicate-rows-dropped", 2)],
            id="teacher-already-listed",
        ),
        pytest.param(
            roster(row(subject=""), row(ssid="1234567891"), row(subject="", ssid="1234567892")),
            roster(row(), row(ssid="1234567891"), row(ssid="1234567892")),
            [("subject-repeated", 1), ("subject-repeated", 3)],
            id="subject-repeated",
        ),
        pytest.param(
            roster(
                row(group="A"),
                row(school=SCHOOL_B),
                row(group="B"),
                row(group="a", ssid="1234567891"),
            ),
            roster(
                row(group="A"),
                row(group="a", ssid="1234567891"),
                row(group="B"),
                row(school=SCHOOL_B),
            ),
            [("rows-regrouped", 4), ("rows-regrouped", 3)],  # in the order written
            id="regrouped-in-order-of-first-appearance",
        ),
    ],
)
def test_normalize_fix(data: bytes, expected: bytes, changes: list) -> None:
    result, out = _normalize(data)

    assert out == expected
    assert list(result.changes) == changes
    assert result.changed
    assert result.digest == hashlib.md5(out, usedforsecurity=False).hexdigest().upper()
    assert result.size == len(out)


def test_normalize_already_normal_file_changes_nothing() -> None:
    data = VALID.read_bytes()

    result, out = _normalize(data)

    assert out == data
    assert list(result.changes) == []
    assert not result.changed
    assert (result.rows_in, result.rows_out) == (100, 100)


def test_normalize_leaves_conflicting_subjects_alone() -> None:
    data = roster(row(subject="Math"), row(subject="", ssid="1234567891"), row(subject="ELA"))

    result, out = _normalize(data)

    assert _rows(out)[1][3] == ""
    assert "subject-repeated" not in result.changes.counts


def test_normalize_keeps_a_repeated_student_with_a_new_teacher() -> None:
    data = roster(row(login="a@x.example.org"), row(login="b@x.example.org"))

    result, out = _normalize(data)

    assert out == data
    assert [p.rule for p in check(out).problems] == ["duplicate-student"]


def test_normalize_keeps_unreadable_rows_verbatim_after_the_others() -> None:
    broken = '"Gr5"x,' + row().split(",", 1)[1]
    data = roster(row(), broken, row(ssid="1234567891"))

    result, out = _normalize(data)

    assert out == roster(row(), row(ssid="1234567891"), broken)
    assert list(result.changes) == [("rows-regrouped", 2)]
    assert [result.row_map(n) for n in (1, 2, 3)] == [1, 3, 2]


def test_normalize_keeps_rows_with_wrong_field_counts_in_place() -> None:
    data = roster(row(), row()[:-1] + "9", row(group="B"))

    result, out = _normalize(data)

    assert out == data
    assert not result.changed


def test_normalize_never_changes_a_value() -> None:
    data = INVALID.read_bytes()

    _, out = _normalize(data)

    def values(content: bytes) -> list[str]:
        return sorted(value for record in _rows(content) for value in record)

    assert values(out) == values(data)


def test_normalize_row_map_points_at_the_dropped_rows() -> None:
    result, out = _normalize(INVALID.read_bytes())

    original = _rows(INVALID.read_bytes())
    normalized = _rows(out)
    assert result.rows_out == len(normalized)
    for number, record in enumerate(normalized, start=1):
        assert original[result.row_map(number) - 1] == record


def test_normalize_sample_invalid_roster_is_regrouped_but_still_invalid() -> None:
    result, out = _normalize(INVALID.read_bytes())

    report = check(out)
    assert result.changes.counts == {"rows-regrouped": 3}
    assert [(p.rule, result.row_map(p.row)) for p in report.problems] == [
        ("group-subject-changes", 4),
        ("group-name-characters", 5),
        ("subject-code-unknown", 5),
        ("school-year-format", 8),
        ("field-count", 13),
    ]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        pytest.param(b"", "empty-file", id="empty"),
        pytest.param(b"PK\x03\x04" + bytes(100), "spreadsheet-file", id="xlsx"),
        pytest.param(roster(row()).decode().encode("utf-16"), "utf16", id="utf16"),
        pytest.param(
            roster(row().replace(",", "\t"), header=HEADER_LINE.replace(",", "\t")),
            "delimiter-not-comma",
            id="tabs",
        ),
        pytest.param(roster(row(), header="name,school"), "header-mismatch", id="header"),
        pytest.param(roster(row(login="x" * 70_000)), "line-too-long", id="long-line"),
        pytest.param(roster(row(login="\x81\x8d")).replace(b"\xc2", b""), "not-utf8", id="bytes"),
    ],
)
def test_normalize_refuses_what_it_cannot_read(data: bytes, rule: str) -> None:
    result, out = _normalize(data)

    assert result.refused == rule
    assert out == b""
    assert not result.changed
    assert result.refusal.startswith("The file could not be normalized: ")


def test_normalize_reads_the_source_again_when_it_is_not_utf8() -> None:
    data = roster(row(), row(ssid="1234567891", login="jos\xe9@x.example.org")).replace(
        b"\xc3\xa9", b"\xe9"
    )
    opened: list[int] = []

    def open_source() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(data)

    result = normalize_roster(open_source, io.BytesIO())

    assert len(opened) == 2
    assert result.changes.counts == {"transcoded": 1}


def test_normalize_change_kinds_are_explained() -> None:
    result, _ = _normalize(b"\xef\xbb\xbf" + roster(row(), ""))

    assert [summary.message for summary in result.changes.summary.values()] == [
        CHANGES["bom-removed"],
        CHANGES["blank-lines-dropped"],
    ]


def test_normalize_big_group_spills_and_keeps_order() -> None:
    rows = [row(group="A", ssid=f"{n:010d}") for n in range(9000)]
    rows += [row(group="B")] + [row(group="A", ssid=f"{n:010d}") for n in range(9000, 9100)]

    result, out = _normalize(roster(*rows))

    ssids = [record[4] for record in _rows(out)]
    assert ssids[:9100] == [f"{n:010d}" for n in range(9100)]
    assert result.changes.counts == {"rows-regrouped": 100}
    assert check(out).valid is False  # 9,100 students in one group


# --- properties ---------------------------------------------------------------------------------

_FRAGMENTS = [
    HEADER_LINE,
    HEADER_LINE.upper(),
    row(),
    row(group="B", subject=""),
    row(group="b", subject="ELA"),
    row(school=SCHOOL_B, ssid="", login="t@x.example.org"),
    row(school=SCHOOL_B, year="27"),
    row(login=" t@x.example.org "),
    ",",
    '"',
    " ",
    "\\",
    "\r\n",
    "\n",
    "\r",
    "\ufeff",
    "\xe9",
    "x",
]


def _csv_like() -> st.SearchStrategy[bytes]:
    body = st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join)
    return st.builds(lambda text: (HEADER_LINE + "\r\n" + text).encode(), body) | st.binary(
        max_size=300
    )


@settings(max_examples=300, deadline=None)
@given(_csv_like())
def test_normalize_is_idempotent(data: bytes) -> None:
    first, out = _normalize(data)
    if first.refused:
        return

    second, again = _normalize(out)

    assert again == out
    assert list(second.changes) == []


@settings(max_examples=300, deadline=None)
@given(_csv_like())
def test_normalized_output_validates_or_says_why_not(data: bytes) -> None:
    result, out = _normalize(data)
    if result.refused:
        assert result.refusal
        return

    problems = list(check(out).problems)
    unreadable_rows = {p.row for p in problems if p.rule == "quote-character"}
    rules = {p.rule for p in problems}
    for problem in problems:
        assert problem.rule not in FIXED_BY_NORMALIZING or problem.row in unreadable_rows
        assert problem.message
    if "group-subject-not-repeated" in rules:
        assert "group-subject-changes" in rules
    assert all(result.row_map(p.row) >= 1 for p in problems if p.row)


def test_normalized_problem_messages_name_rows_of_the_dropped_file() -> None:
    data = roster(
        row(school=SCHOOL_A),
        row(school=SCHOOL_B, subject="Math"),
        row(school=SCHOOL_A, group="Other"),
        row(school=SCHOOL_B, subject="ELA", ssid="1234567891"),
    )
    result, out = _normalize(data)

    [item] = report_document(check(out), "roster.csv", row_map=result.row_map)["errors"]

    assert (item["rule"], item["row"], item["normalized_row"]) == ("group-subject-changes", 4, 4)
    assert "(the group starts at row 2)" in item["message"]
