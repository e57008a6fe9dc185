"""Roster rules: each rule with its id and the data-row number CERS would report."""

import csv
import hashlib
import io
from pathlib import Path

import pytest
from botocore.response import StreamingBody
from hypothesis import given, settings
from hypothesis import strategies as st

from cers_groups import roster
from cers_groups.roster import (
    HEADER,
    MAX_GROUP_NAME_LENGTH,
    MAX_LINE_CHARS,
    MAX_PROBLEMS_PER_RULE,
    MAX_STUDENTS_PER_GROUP,
    RosterReport,
    validate_roster,
)

SAMPLES = Path(__file__).resolve().parents[2] / "local_stack" / "samples"
SAMPLE_SCHOOLS = {"99123450111111", "99123450122222", "99123450133333"}
HEADER_LINE = ",".join(HEADER)
SCHOOL_A = "99123450111111"
SCHOOL_B = "99123450122222"


def _row(
    group: str = "Gr5_Math_Rm12",
    school: str = SCHOOL_A,
    year: str = "2027",
    subject: str = "Math",
    ssid: str = "1234567890",
    login: str = "",
) -> str:
    return ",".join((group, school, year, subject, ssid, login))


def _roster(*rows: str, header: str = HEADER_LINE, newline: str = "\r\n") -> bytes:
    return "".join(line + newline for line in (header, *rows)).encode()


def _check(data: bytes) -> RosterReport:
    return validate_roster(io.BytesIO(data))


def _found(data: bytes) -> list[tuple[str, int | None]]:
    return [(problem.rule, problem.row) for problem in _check(data).problems]


def _students(count: int, **columns: str) -> list[str]:
    return [_row(ssid=f"{1_000_000_000 + n}", **columns) for n in range(count)]


class _TrickleStream:
    """A stream that hands out at most a few bytes per read, like a slow network body."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(self._step, size) if size >= 0 else self._step)


# --- valid rosters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_roster(_row()), id="one-row"),
        pytest.param(_roster(_row(), header=HEADER_LINE.upper()), id="upper-case-header"),
        pytest.param(b"\xef\xbb\xbf" + _roster(_row()), id="utf8-bom"),
        pytest.param(
            _roster(_row(), header=",".join(f'"{name}"' for name in HEADER)), id="quoted-header"
        ),
        pytest.param(_roster(_row(), _row(ssid="1234567891"), newline="\n"), id="lf"),
        pytest.param(_roster(_row(), _row(ssid="1234567891"), newline="\r"), id="cr"),
        pytest.param(_roster(_row())[:-2], id="no-final-line-break"),
        pytest.param(_roster(_row(subject="math"), _row(subject="MATH")), id="subject-any-case"),
        pytest.param(_roster(_row(subject="All"), _row(subject="all")), id="subject-all"),
        pytest.param(
            _roster(_row(subject="ELA"), _row(subject=""), _row(subject="ela")),
            id="blank-subject-never-conflicts",
        ),
        pytest.param(_roster(_row(subject="", ssid="", login="")), id="row-with-neither"),
        pytest.param(
            _roster(_row(ssid="", login="jgarcia@sampleusd.example.org")), id="login-only"
        ),
        pytest.param(_roster(_row(group="Math8-P5_b")), id="group-name-hyphen-underscore"),
        pytest.param(_roster(_row(group="G" * MAX_GROUP_NAME_LENGTH)), id="group-name-100"),
        pytest.param(_roster(_row(group="Algebra1_P3"), _row(group="ALGEBRA1_p3")), id="case"),
        pytest.param(
            _roster(_row(school=SCHOOL_B), _row(school=SCHOOL_A)), id="schools-not-sorted"
        ),
        pytest.param(
            _roster(_row(year="2027"), _row(group="Other"), _row(year="2026")),
            id="same-name-other-year",
        ),
        pytest.param(_roster(*_students(MAX_STUDENTS_PER_GROUP)), id="exactly-200-students"),
        pytest.param(
            _roster(*_students(MAX_STUDENTS_PER_GROUP), _row(ssid="", login="t@x.example.org")),
            id="200-students-and-a-teacher",
        ),
    ],
)
def test_validate_roster_valid_file_has_no_problems(data: bytes) -> None:
    assert _found(data) == []


def test_validate_roster_counts_rows_schools_and_groups() -> None:
    report = _check(
        _roster(
            _row(group="A"),
            _row(group="A"),
            _row(group="B"),
            _row(group="B", year="2026"),
            _row(group="A", school=SCHOOL_B),
        )
    )

    assert (report.rows, report.schools, report.groups) == (5, 2, 4)


# --- whole-file problems -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", [("empty-file", None)], id="no-bytes"),
        pytest.param(b"\xef\xbb\xbf", [("empty-file", None)], id="bom-only"),
        pytest.param(_roster(), [("no-data-rows", None)], id="header-only"),
        pytest.param(_roster(header=HEADER_LINE)[:-2], [("no-data-rows", None)], id="no-eol"),
        pytest.param(
            _roster(_row(login="jos\xe9@x.example.org")).replace(b"\xc3\xa9", b"\xe9"),
            [("not-utf8", None)],
            id="cp1252-byte",
        ),
        pytest.param(b"\xff\xfe" + "x".encode("utf-16-le"), [("not-utf8", None)], id="utf16"),
    ],
)
def test_validate_roster_whole_file_problem(
    data: bytes, expected: list[tuple[str, int | None]]
) -> None:
    assert _found(data) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(HEADER_LINE.replace(",", ";"), id="semicolons"),
        pytest.param(HEADER_LINE.replace(",", "\t"), id="tabs"),
        pytest.param(" " + HEADER_LINE, id="leading-space"),
        pytest.param(HEADER_LINE.replace(",", ", "), id="spaces-after-commas"),
        pytest.param(HEADER_LINE + ",extra", id="extra-column"),
        pytest.param("group_name,school_natural_id", id="too-few-columns"),
        pytest.param(
            HEADER_LINE.replace("school_year,subject_code", "subject_code,school_year"),
            id="swapped-columns",
        ),
        pytest.param('"group_name"x,' + HEADER_LINE.split(",", 1)[1], id="bad-quotes"),
    ],
)
def test_validate_roster_wrong_header_is_reported_once(header: str) -> None:
    report = _check(_roster(_row(), _row(year="bad"), header=header))

    assert [(problem.rule, problem.row) for problem in report.problems] == [
        ("header-mismatch", None)
    ]
    assert report.rows == 2


def test_validate_roster_blank_first_line_is_a_wrong_header() -> None:
    report = _check(b"\r\n" + _roster(_row()))

    assert [problem.rule for problem in report.problems] == ["header-mismatch"]
    assert "first line is blank" in report.problems[0].message


def test_validate_roster_wrong_header_message_names_the_column() -> None:
    header = HEADER_LINE.replace("school_year", "year")

    (problem,) = _check(_roster(_row(), header=header)).problems

    assert "Column 3 should be school_year" in problem.message


def test_validate_roster_too_many_rows_reports_first_row_over_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(roster, "MAX_DATA_ROWS", 3)

    assert _found(_roster(*_students(5))) == [("too-many-rows", 4)]


def test_validate_roster_line_too_long_stops_reading() -> None:
    data = _roster(_row(), _row(login="x" * MAX_LINE_CHARS), _row(year="bad"))

    report = _check(data)

    assert [(problem.rule, problem.row) for problem in report.problems] == [("line-too-long", 2)]
    assert report.size == len(data)


# --- row problems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([_row(), _row()[:-1]], [("field-count", 2)], id="five-fields"),
        pytest.param([_row() + ",", _row()], [("field-count", 1)], id="seven-fields"),
        pytest.param([_row(), '""', _row()], [("field-count", 2)], id="one-empty-field"),
        pytest.param([_row(), "", _row()], [("blank-line", 1)], id="blank-line"),
        pytest.param(["", _row()], [("blank-line", None)], id="blank-after-header"),
        pytest.param([_row(), ""], [("blank-line", 1)], id="blank-at-end"),
        pytest.param(
            [_row(), "", _row(year="27")],
            [("blank-line", 1), ("school-year-format", 2)],
            id="blank-line-not-counted",
        ),
        pytest.param([_row(), _row(group="")], [("group-name-blank", 2)], id="group-blank"),
        pytest.param([_row(group="  ")], [("group-name-blank", 1)], id="group-whitespace"),
        pytest.param([_row(), _row(school="")], [("school-id-blank", 2)], id="school-blank"),
        pytest.param([_row(year="")], [("school-year-blank", 1)], id="year-blank"),
        pytest.param(
            [_row(group="", school="", year="")],
            [("group-name-blank", 1), ("school-id-blank", 1), ("school-year-blank", 1)],
            id="all-keys-blank",
        ),
        pytest.param(
            [_row(group=""), _row(group="")],
            [("group-name-blank", 1), ("group-name-blank", 2)],
            id="blank-reported-every-row",
        ),
        pytest.param(
            [_row(group="Gr5 Math"), _row(group="Gr5 Math")],
            [("group-name-characters", 1)],
            id="group-space-once-per-group",
        ),
        pytest.param([_row(group="Gr5.Math")], [("group-name-characters", 1)], id="dot"),
        pytest.param([_row(group="Matemáticas")], [("group-name-characters", 1)], id="accent"),
        pytest.param(
            [_row(), _row(group="G" * (MAX_GROUP_NAME_LENGTH + 1))],
            [("group-name-too-long", 2)],
            id="group-101",
        ),
        pytest.param([_row(year="26-27")], [("school-year-format", 1)], id="year-range"),
        pytest.param([_row(year="27")], [("school-year-format", 1)], id="year-2-digits"),
        pytest.param([_row(year="02027")], [("school-year-format", 1)], id="year-5-digits"),
        pytest.param([_row(year=" 2027")], [("school-year-format", 1)], id="year-space"),
        pytest.param([_row(year="+202")], [("school-year-format", 1)], id="year-sign"),
        pytest.param(
            [_row(year="\u0662\u0660\u0662\u0667")],
            [("school-year-format", 1)],
            id="year-non-ascii-digits",
        ),
        pytest.param(
            [_row(), _row(subject="Science")], [("subject-code-unknown", 2)], id="science"
        ),
        pytest.param([_row(subject=" Math")], [("subject-code-unknown", 1)], id="subject-space"),
        pytest.param(
            [_row(subject="Math"), _row(subject="ELA")],
            [("group-subject-changes", 2)],
            id="math-then-ela",
        ),
        pytest.param(
            [_row(subject="Math"), _row(subject=""), _row(subject="All")],
            [("group-subject-changes", 3)],
            id="math-then-all",
        ),
        pytest.param(
            [_row(subject=""), _row(subject="ELA"), _row(subject="Math")],
            [("group-subject-changes", 3)],
            id="first-non-blank-sets-subject",
        ),
        pytest.param(
            [_row(subject="Math"), _row(group="Other", subject="ELA")],
            [],
            id="subject-is-per-group",
        ),
        pytest.param(
            [_row(school=SCHOOL_A), _row(school=SCHOOL_B), _row(school=SCHOOL_A)],
            [("school-not-contiguous", 3)],
            id="school-returns",
        ),
        pytest.param(
            [_row(group="A"), _row(group="B"), _row(group="A")],
            [("group-not-contiguous", 3)],
            id="group-returns",
        ),
        pytest.param(
            [_row(group="A"), _row(group="B"), _row(group="a")],
            [("group-not-contiguous", 3)],
            id="group-returns-other-case",
        ),
        pytest.param(
            [_row(group="A"), _row(school=SCHOOL_B), _row(group="A", school=SCHOOL_B)],
            [],
            id="group-key-includes-school",
        ),
        pytest.param(
            [_row(group="A"), _row(group=""), _row(group="A")],
            [("group-name-blank", 2)],
            id="blank-key-row-joins-no-group",
        ),
        pytest.param(
            ['"Gr5"x,' + _row().split(",", 1)[1], _row(year="27")],
            [("csv-malformed", 1), ("school-year-format", 2)],
            id="stray-quote-costs-one-row",
        ),
        pytest.param([_row(), '"Gr5,' + SCHOOL_A], [("csv-malformed", 2)], id="unclosed-quote"),
        pytest.param(
            [_row(login='"t@x.example.org\r\nsecond line"'), _row(year="27")],
            [("school-year-format", 2)],
            id="quoted-line-break-is-one-row",
        ),
    ],
)
def test_validate_roster_row_problem(
    rows: list[str], expected: list[tuple[str, int | None]]
) -> None:
    assert _found(_roster(*rows)) == expected


def test_validate_roster_group_too_large_reports_first_row_of_group() -> None:
    rows = [_row(group="Small"), *_students(MAX_STUDENTS_PER_GROUP + 1, group="Big")]

    report = _check(_roster(*rows, _row(group="Next")))

    assert [(problem.rule, problem.row) for problem in report.problems] == [("group-too-large", 2)]
    assert f"has {MAX_STUDENTS_PER_GROUP + 1} rows" in report.problems[0].message


def test_validate_roster_group_too_large_counts_only_rows_with_ssid() -> None:
    teachers = [_row(ssid="", login=f"t{n}@x.example.org") for n in range(5)]
    blanks = [_row(ssid="  ") for _ in range(5)]

    assert _found(_roster(*_students(MAX_STUDENTS_PER_GROUP), *teachers, *blanks)) == []


def test_validate_roster_group_too_large_at_end_of_file() -> None:
    rows = _students(MAX_STUDENTS_PER_GROUP + 1)

    assert _found(_roster(*rows)) == [("group-too-large", 1)]


def test_validate_roster_repeated_problem_is_listed_up_to_the_cap() -> None:
    rows = [_row()[:-1]] * (MAX_PROBLEMS_PER_RULE + 5)

    problems = _check(_roster(*rows)).problems

    assert len(problems) == MAX_PROBLEMS_PER_RULE + 1
    assert (problems[-1].rule, problems[-1].row) == ("field-count", MAX_PROBLEMS_PER_RULE + 1)
    assert "5 more times" in problems[-1].message


def test_validate_roster_messages_never_quote_file_values() -> None:
    secrets = ("5550001234", "secret.person@x.example.org", "Secret Group", "SCHOOL_ZZ", "19-20")
    rows = [
        _row(group="Secret Group", school="SCHOOL_ZZ", ssid="5550001234", login=secrets[1]),
        _row(group="Secret Group", school="SCHOOL_ZZ", year="19-20", subject="Science"),
        _row(group="Secret Group", school="SCHOOL_ZZ", subject="ELA", ssid="5550001234")[:-1],
        _row(school="OTHER"),
        _row(group="Secret Group", school="SCHOOL_ZZ", subject="ELA"),
    ]

    problems = _check(_roster(*rows)).problems

    assert len(problems) >= 5
    assert not any(secret in problem.message for problem in problems for secret in secrets)


# --- digest, size and streams ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(_roster(*_students(50)), id="valid"),
        pytest.param(b"\xff" * 200_000, id="not-utf8-early"),
        pytest.param(_roster(_row()) + b"\xff" + b"x" * 200_000, id="not-utf8-late"),
        pytest.param(_roster(header="wrong") + b"x\r\n" * 50_000, id="wrong-header"),
    ],
)
def test_validate_roster_digest_and_size_cover_every_byte(data: bytes) -> None:
    report = _check(data)

    assert report.digest == hashlib.md5(data).hexdigest().upper()
    assert report.size == len(data)


def test_validate_roster_reads_botocore_streaming_body() -> None:
    data = _roster(*_students(30))

    report = validate_roster(StreamingBody(io.BytesIO(data), len(data)))

    assert (report.valid, report.rows) == (True, 30)
    assert report.digest == hashlib.md5(data).hexdigest().upper()


def test_validate_roster_short_reads_give_the_same_report() -> None:
    data = (SAMPLES / "invalid_roster.csv").read_bytes()

    assert validate_roster(_TrickleStream(data)) == _check(data)


# --- sample files --------------------------------------------------------------------------


def test_sample_valid_roster_has_no_problems() -> None:
    data = (SAMPLES / "valid_roster.csv").read_bytes()

    report = _check(data)

    assert report.problems == []
    assert (report.rows, report.schools, report.groups) == (100, 3, 9)
    assert report.digest == hashlib.md5(data).hexdigest().upper()


def test_sample_valid_roster_matches_the_demo_setup() -> None:
    data = (SAMPLES / "valid_roster.csv").read_bytes()
    records = list(csv.reader(io.StringIO(data.decode("ascii"), newline="")))

    assert data.startswith(HEADER_LINE.encode() + b"\r\n")
    assert data.count(b"\r\n") == data.count(b"\n") == len(records)
    assert {record[1] for record in records[1:]} == SAMPLE_SCHOOLS
    assert {record[2] for record in records[1:]} == {"2027"}
    assert all(len(record[4]) in (0, 10) for record in records[1:])
    assert any(not record[4] and "@" in record[5] for record in records[1:])


def test_sample_invalid_roster_gives_the_designed_problems() -> None:
    report = _check((SAMPLES / "invalid_roster.csv").read_bytes())

    assert [(problem.rule, problem.row) for problem in report.problems] == [
        ("group-subject-changes", 4),
        ("group-name-characters", 5),
        ("subject-code-unknown", 5),
        ("school-year-format", 8),
        ("field-count", 13),
        ("school-not-contiguous", 14),
    ]


# --- robustness ----------------------------------------------------------------------------

_FRAGMENTS = [
    HEADER_LINE.encode(),
    _row().encode(),
    _row(group="B", subject="ELA").encode(),
    _row(school=SCHOOL_B, year="27").encode(),
    b",",
    b'"',
    b"\r\n",
    b"\n",
    b"\r",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\x00",
    b" ",
    b"Math",
]


def _assert_sound(data: bytes, report: RosterReport) -> None:
    assert isinstance(report, RosterReport)
    assert report.digest == hashlib.md5(data).hexdigest().upper()
    assert report.size == len(data)
    assert all(
        problem.row is None or 1 <= problem.row <= report.rows + 1 for problem in report.problems
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_validate_roster_arbitrary_bytes_never_raise(data: bytes) -> None:
    _assert_sound(data, _check(data))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=60).map(b"".join))
def test_validate_roster_csv_like_bytes_never_raise(data: bytes) -> None:
    _assert_sound(data, _check(data))
