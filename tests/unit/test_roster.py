"""Roster rules: each rule with its id and the data-row number CERS would report."""

import csv
import hashlib
import io
from datetime import date

import pytest
from botocore.response import StreamingBody
from hypothesis import given, settings
from hypothesis import strategies as st

from cers_groups import roster as roster_module
from cers_groups.roster import RosterReport, validate_roster
from cers_groups.roster_rules import (
    HEADER,
    HEADER_LINE,
    MAX_GROUP_NAME_LENGTH,
    MAX_LINE_CHARS,
    MAX_STUDENTS_PER_GROUP,
    RULES,
    Severity,
    Source,
)
from cers_groups.tenants import RuleSettings
from tests.rosters import (
    INVALID,
    SCHOOL_A,
    SCHOOL_B,
    SETTINGS,
    VALID,
    check,
    found,
    roster,
    row,
    students,
)


class _TrickleStream:
    """A stream that hands out at most a few bytes per read, like a slow network body."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(self._step, size) if size >= 0 else self._step)


def _snapshot(report: RosterReport) -> tuple:
    return (
        report.rows,
        report.size,
        report.digest,
        report.schools,
        report.groups,
        [(p.rule, p.row, p.message, p.severity) for p in report.problems],
    )


# --- the rule catalogue ---------------------------------------------------------------------


def test_rules_have_a_severity_a_source_and_an_actionable_message() -> None:
    for rule in RULES.values():
        assert rule.severity in (Severity.ERROR, Severity.WARNING)
        assert rule.sources and all(isinstance(source, Source) for source in rule.sources)
        assert len(rule.message) > 40
        assert rule.source_label


# --- valid rosters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(roster(row()), id="one-row"),
        pytest.param(b"\xef\xbb\xbf" + roster(row()), id="utf8-bom"),
        pytest.param(roster(row(), row(ssid="1234567891"), newline="\n"), id="lf"),
        pytest.param(roster(row(), row(ssid="1234567891"), newline="\r"), id="cr"),
        pytest.param(roster(row())[:-2], id="no-final-line-break"),
        pytest.param(
            roster(row(subject="math"), row(subject="MATH", ssid="1234567891")), id="case"
        ),
        pytest.param(roster(row(subject="All"), row(subject="all", ssid="1234567891")), id="all"),
        pytest.param(roster(row(subject="", ssid="", login="")), id="row-with-neither"),
        pytest.param(roster(row(ssid="", login="jgarcia@sampleusd.example.org")), id="login-only"),
        pytest.param(
            roster(
                row(ssid="", login="t@x.example.org"),
                row(ssid="1234567891", login="t@x.example.org"),
            ),
            id="teacher-on-every-row",
        ),
        pytest.param(roster(row(group="Math8-P5_b")), id="group-name-hyphen-underscore"),
        pytest.param(roster(row(group="G" * MAX_GROUP_NAME_LENGTH)), id="group-name-100"),
        pytest.param(roster(row(school=SCHOOL_B), row(school=SCHOOL_A)), id="schools-not-sorted"),
        pytest.param(
            roster(row(year="2027"), row(group="Other"), row(year="2028")),
            id="same-name-other-year",
        ),
        pytest.param(roster(*students(MAX_STUDENTS_PER_GROUP)), id="exactly-200-students"),
        pytest.param(
            roster(*students(MAX_STUDENTS_PER_GROUP), row(ssid="", login="t@x.example.org")),
            id="200-students-and-a-teacher",
        ),
        pytest.param(roster(row(login="jos\xe9@x.example.org")), id="utf8-accent-in-login"),
    ],
)
def test_validate_roster_valid_file_has_no_problems(data: bytes) -> None:
    assert found(data) == []


def test_validate_roster_counts_rows_schools_and_groups() -> None:
    report = check(
        roster(
            row(group="A"),
            row(group="A", ssid="1234567891"),
            row(group="B"),
            row(group="B", year="2028"),
            row(group="A", school=SCHOOL_B),
        )
    )

    assert (report.rows, report.schools, report.groups) == (5, 2, 4)
    assert report.valid


# --- whole-file problems -------------------------------------------------------------------

_UTF16_TEXT = roster(row()).decode()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", [("empty-file", None)], id="no-bytes"),
        pytest.param(b"\xef\xbb\xbf", [("empty-file", None)], id="bom-only"),
        pytest.param(roster(), [("no-data-rows", None)], id="header-only"),
        pytest.param(roster()[:-2], [("no-data-rows", None)], id="header-without-line-break"),
        pytest.param(b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), [("spreadsheet-file", None)]),
        pytest.param(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), [("spreadsheet-file", None)], id="xls"
        ),
        pytest.param(
            b"\xff\xfe" + _UTF16_TEXT.encode("utf-16-le"), [("utf16", None)], id="utf16-bom"
        ),
        pytest.param(_UTF16_TEXT.encode("utf-16-le"), [("utf16", None)], id="utf16le-no-bom"),
        pytest.param(_UTF16_TEXT.encode("utf-16-be"), [("utf16", None)], id="utf16be-no-bom"),
        pytest.param(bytes(range(256)) * 4, [("binary-file", None)], id="binary"),
        pytest.param(
            roster(row(), row(ssid="1234567891", login="jos\xe9@x.example.org")).replace(
                b"\xc3\xa9", b"\xe9"
            ),
            [("not-utf8", 2)],
            id="cp1252-byte",
        ),
        pytest.param(
            roster(row().replace(",", "\t"), header=HEADER_LINE.replace(",", "\t")),
            [("delimiter-not-comma", None)],
            id="tabs",
        ),
        pytest.param(
            roster(row().replace(",", ";"), header=HEADER_LINE.replace(",", ";")),
            [("delimiter-not-comma", None)],
            id="semicolons",
        ),
        pytest.param(
            roster(row()) + (row(ssid="1234567891") + "\n").encode() + roster(row(ssid="2"))[:0],
            [("line-endings-mixed", 2)],
            id="crlf-header-lf-row",
        ),
        pytest.param(
            roster(row(), newline="\n") + (row(ssid="1234567891") + "\r\n").encode(),
            [("line-endings-mixed", 2)],
            id="lf-header-crlf-row",
        ),
    ],
)
def test_validate_roster_whole_file_problem(data: bytes, expected: list[tuple]) -> None:
    assert found(data) == expected


def test_validate_roster_whole_file_answer_is_one_problem_however_big() -> None:
    data = _UTF16_TEXT.encode("utf-16-le") * 5000

    report = check(data)

    assert [(p.rule, p.row) for p in report.problems] == [("utf16", None)]
    assert report.size == len(data)


def test_validate_roster_mixed_line_endings_counts_every_other_line() -> None:
    data = roster(row()) + b"".join((line + "\n").encode() for line in students(3, group="B"))

    (problem,) = check(data).problems

    assert (problem.rule, problem.row) == ("line-endings-mixed", 2)
    assert "CRLF but 3 later lines" in problem.message


def test_validate_roster_delimiter_message_names_it() -> None:
    data = roster(row().replace(",", ";"), header=HEADER_LINE.replace(",", ";"))

    (problem,) = check(data).problems

    assert "separated by semicolons" in problem.message


@pytest.mark.parametrize(
    "header",
    [
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
    report = check(roster(row(), row(year="bad"), header=header))

    assert [(problem.rule, problem.row) for problem in report.problems] == [
        ("header-mismatch", None)
    ]
    assert report.rows == 2


@pytest.mark.parametrize(
    ("header", "how"),
    [
        pytest.param(HEADER_LINE.upper(), "in upper case", id="upper-case"),
        pytest.param(",".join(f'"{name}"' for name in HEADER), "with quotes", id="quoted"),
    ],
)
def test_validate_roster_header_accepted_by_cers_but_not_canonical_is_a_warning(
    header: str, how: str
) -> None:
    report = check(roster(row(), header=header))

    (problem,) = report.problems
    assert (problem.rule, problem.row, problem.severity) == (
        "header-not-canonical",
        None,
        Severity.WARNING,
    )
    assert how in problem.message
    assert report.valid


def test_validate_roster_blank_first_line_is_a_wrong_header() -> None:
    (problem,) = check(b"\r\n" + roster(row())).problems

    assert problem.rule == "header-mismatch"
    assert "first line is blank" in problem.message


def test_validate_roster_wrong_header_message_names_the_column() -> None:
    header = HEADER_LINE.replace("school_year", "year")

    (problem,) = check(roster(row(), header=header)).problems

    assert "Column 3 should be school_year" in problem.message


def test_validate_roster_too_many_rows_uses_the_district_row_limit() -> None:
    limited = RuleSettings(school_years=(2027,), row_limit=3)

    report = check(roster(*students(5)), limited)

    assert [(p.rule, p.row) for p in report.problems] == [("too-many-rows", 4)]
    assert "5 data rows" in next(iter(report.problems)).message


def test_validate_roster_file_over_500_mb_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_module, "MAX_FILE_BYTES", 100)

    assert found(roster(*students(3))) == [("file-too-large", None)]


def test_validate_roster_file_name_over_250_characters() -> None:
    assert found(roster(row()), name="r" * 247 + ".csv") == [("file-name-too-long", None)]
    assert found(roster(row()), name="r" * 246 + ".csv") == []


def test_validate_roster_line_too_long_stops_reading() -> None:
    data = roster(row(), row(login="x" * MAX_LINE_CHARS), row(year="bad"))

    report = check(data)

    assert [(problem.rule, problem.row) for problem in report.problems] == [("line-too-long", 2)]
    assert report.size == len(data)


def test_validate_roster_line_without_break_past_the_limit_stops_reading() -> None:
    data = roster(row()) + b"x" * (40 * MAX_LINE_CHARS)

    assert found(data) == [("line-too-long", 2)]


# --- characters and fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([row(), row()[:-1]], [("field-count", 2)], id="five-fields"),
        pytest.param([row() + ",", row(ssid="2" * 10)], [("field-count", 1)], id="seven-fields"),
        pytest.param([row(), "", row(ssid="1234567891")], [("blank-line", 1)], id="blank-line"),
        pytest.param(["", row()], [("blank-line", None)], id="blank-after-header"),
        pytest.param([row(), ""], [("blank-line", 1)], id="blank-at-end"),
        pytest.param(
            [row(), "", row(year="27")],
            [("blank-line", 1), ("school-year-format", 2)],
            id="blank-line-not-counted",
        ),
        pytest.param(
            [row(login='ab"c@x.example.org')],
            [("quote-character", 1), ("login-format", 1)],
            id="stray-quote",
        ),
        pytest.param([row(group='"Gr5_Math_Rm12"')], [("quote-character", 1)], id="quoted-value"),
        pytest.param(
            ['"Gr5"x,' + row().split(",", 1)[1], row(year="27")],
            [("quote-character", 1), ("school-year-format", 2)],
            id="unreadable-quote-costs-one-row",
        ),
        pytest.param([row(), '"Gr5,' + SCHOOL_A], [("quote-character", 2)], id="unclosed-quote"),
        pytest.param(
            [row(login='"t@x.example.org\r\nsecond"'), row(year="27")],
            [
                ("quote-character", 1),
                ("field-line-break", 1),
                ("login-format", 1),
                ("school-year-format", 2),
            ],
            id="quoted-line-break-is-one-row",
        ),
        pytest.param(
            [row(login='"t@x.example.org,u@x.example.org"')],
            [("quote-character", 1), ("field-comma", 1), ("login-format", 1)],
            id="quoted-comma",
        ),
        pytest.param([row(login="\\N")], [("backslash", 1), ("login-format", 1)], id="slash-N"),
        pytest.param([row(group="Gr5\\Math")], [("backslash", 1), ("group-name-characters", 1)]),
        pytest.param(
            [row(login="t\U0001f600@x.example.org")],
            [("non-bmp-character", 1)],
            id="emoji",
        ),
        pytest.param(
            [row(), row(ssid="1234567891", login="a\x00b@x.example.org")],
            [("nul-byte", 2), ("login-format", 2)],
            id="nul",
        ),
        pytest.param(
            [row(group="Gr5\tMath")],
            [("control-character", 1), ("group-name-characters", 1)],
            id="tab-inside",
        ),
        pytest.param(
            [row(school="DS9002 ")],
            [("whitespace-around-value", 1), ("school-id-not-cds", 1)],
            id="trailing-space-school",
        ),
        pytest.param(
            [row(year=" 2027")],
            [("whitespace-around-value", 1), ("school-year-format", 1)],
            id="leading-space-year",
        ),
        pytest.param([row(subject=" Math")], [("whitespace-around-value", 1)], id="subject-space"),
        pytest.param(
            [row(ssid="1234567890 ", login=" t@x.example.org")],
            [("whitespace-around-value", 1), ("ssid-format", 1), ("login-format", 1)],
            id="two-columns-one-problem",
        ),
    ],
)
def test_validate_roster_character_and_field_problem(rows: list[str], expected: list) -> None:
    assert found(roster(*rows)) == expected


def test_validate_roster_whitespace_message_names_every_column() -> None:
    (problem, *_) = check(roster(row(group="G ", school=" " + SCHOOL_A))).problems

    assert problem.rule == "whitespace-around-value"
    assert problem.message.startswith("group_name, school_natural_id has spaces")


# --- key columns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([row(), row(group="")], [("group-name-blank", 2)], id="group-blank"),
        pytest.param([row(), row(school="")], [("school-id-blank", 2)], id="school-blank"),
        pytest.param([row(year="")], [("school-year-blank", 1)], id="year-blank"),
        pytest.param(
            [row(group="", school="", year="")],
            [("group-name-blank", 1), ("school-id-blank", 1), ("school-year-blank", 1)],
            id="comma-only-row",
        ),
        pytest.param(
            [row(group=""), row(group="", ssid="1234567891")],
            [("group-name-blank", 1), ("group-name-blank", 2)],
            id="blank-reported-every-row",
        ),
        pytest.param(
            [row(group="Gr5.Math"), row(group="Gr5.Math", ssid="1234567891")],
            [("group-name-characters", 1)],
            id="group-name-once-per-group",
        ),
        pytest.param([row(group="Matem\xe1ticas")], [("group-name-characters", 1)], id="accent"),
        pytest.param(
            [row(), row(group="G" * (MAX_GROUP_NAME_LENGTH + 1))],
            [("group-name-too-long", 2)],
            id="group-101",
        ),
        pytest.param(
            [row(group="GroupA"), row(group="groupa", ssid="1234567891")],
            [("group-name-case", 2)],
            id="case-variant-adjacent",
        ),
        pytest.param(
            [row(group="GroupA"), row(group="B"), row(group="groupa", ssid="1234567891")],
            [("group-not-contiguous", 3), ("group-name-case", 3)],
            id="case-variant-returns",
        ),
        pytest.param([row(school="1" * 41)], [("school-id-too-long", 1)], id="school-41"),
        pytest.param([row(school="1" * 40)], [("school-id-not-cds", 1)], id="school-40"),
        pytest.param([row(school="DS9002")], [("school-id-not-cds", 1)], id="not-cds"),
        pytest.param([row(year="26-27")], [("school-year-format", 1)], id="year-range"),
        pytest.param([row(year="27")], [("school-year-format", 1)], id="year-2-digits"),
        pytest.param([row(year="02027")], [("school-year-format", 1)], id="year-5-digits"),
        pytest.param([row(year="+202")], [("school-year-format", 1)], id="year-sign"),
        pytest.param(
            [row(year="\u0662\u0660\u0662\u0667")],
            [("school-year-format", 1)],
            id="year-non-ascii-digits",
        ),
        pytest.param([row(year="2019")], [("school-year-not-accepted", 1)], id="old-year"),
        pytest.param(
            [row(school="9.91235E+13")], [("excel-scientific-notation", 1)], id="school-sci"
        ),
        pytest.param(
            [row(school="99123450111111.0")], [("excel-decimal-suffix", 1)], id="school-dot0"
        ),
        pytest.param(
            [row(school="1611920130229")], [("excel-leading-zeros", 1)], id="school-13-digits"
        ),
        pytest.param([row(year="2027.0")], [("excel-decimal-suffix", 1)], id="year-dot0"),
    ],
)
def test_validate_roster_key_column_problem(rows: list[str], expected: list) -> None:
    assert found(roster(*rows)) == expected


def test_validate_roster_key_rules_report_first_row_of_each_group_block() -> None:
    rows = [row(year="17-18", ssid=f"{n:010d}") for n in range(5)]
    rows += [row(group="Other", year="17-18", ssid=f"{n:010d}") for n in range(5)]

    assert found(roster(*rows)) == [
        ("school-year-format", 1),
        ("school-year-format", 6),
    ]


def test_validate_roster_school_year_default_is_current_and_next() -> None:
    data = roster(row(year="2027"), row(group="B", year="2028"), row(group="C", year="2029"))

    autumn = found(data, RuleSettings(), today=date(2026, 12, 3))
    next_summer = found(data, RuleSettings(), today=date(2027, 7, 1))

    assert autumn == [("school-year-not-accepted", 3)]
    assert next_summer == [("school-year-not-accepted", 1)]


def test_validate_roster_year_message_lists_the_accepted_years() -> None:
    (problem,) = check(roster(row(year="2026"))).problems

    assert "(2027, 2028;" in problem.message


def test_validate_roster_allowed_schools() -> None:
    limited = RuleSettings(school_years=(2027,), allowed_schools=frozenset({SCHOOL_B}))

    assert found(roster(row(), row(school=SCHOOL_B)), limited) == [("school-not-allowed", 1)]


# --- subject --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [row(), row(subject="Science", ssid="2")],
            [("subject-code-unknown", 2), ("ssid-format", 2)],
        ),
        pytest.param([row(subject="ELPAC")], [("subject-code-unknown", 1)], id="elpac-off"),
        pytest.param(
            [row(subject="Math"), row(subject="ELA", ssid="1234567891")],
            [("group-subject-changes", 2)],
            id="math-then-ela",
        ),
        pytest.param(
            [
                row(subject="Math"),
                row(subject="", ssid="1234567891"),
                row(subject="All", ssid="1234567892"),
            ],
            # the group's own problems come when the group ends
            [("group-subject-changes", 3), ("group-subject-not-repeated", 2)],
            id="math-then-all",
        ),
        pytest.param(
            [row(subject="Math"), row(group="Other", subject="ELA")],
            [],
            id="subject-is-per-group",
        ),
        pytest.param(
            [row(subject=""), row(subject="ELA", ssid="1234567891")],
            [("group-subject-not-repeated", 1)],
            id="blank-subject-row",
        ),
    ],
)
def test_validate_roster_subject_problem(rows: list[str], expected: list) -> None:
    assert found(roster(*rows)) == expected


def test_validate_roster_configured_subjects() -> None:
    elpac = RuleSettings(school_years=(2027,), subjects=("Math", "ELA", "ELPAC"))

    assert found(roster(row(subject="elpac")), elpac) == []
    message = next(iter(check(roster(row(subject="X")), elpac).problems)).message
    assert "one of Math, ELA, ELPAC" in message


def test_validate_roster_group_subject_not_repeated_is_a_warning() -> None:
    report = check(roster(row(subject=""), row(ssid="1234567891")))

    assert report.valid
    assert report.warning_count == 1


# --- members --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([row(ssid="1" * 66)], [("ssid-too-long", 1)], id="ssid-66"),
        pytest.param([row(ssid="123456789")], [("ssid-format", 1)], id="ssid-9-digits"),
        pytest.param([row(ssid="A123456789")], [("ssid-format", 1)], id="ssid-letter"),
        pytest.param([row(ssid="1.23457E+09")], [("excel-scientific-notation", 1)], id="ssid-sci"),
        pytest.param([row(ssid="1234567890.0")], [("excel-decimal-suffix", 1)], id="ssid-dot0"),
        pytest.param([row(login="a" * 250 + "@x.org")], [("login-too-long", 1)], id="login-256"),
        pytest.param([row(login="jgarcia")], [("login-format", 1)], id="login-not-email"),
        pytest.param([row(), row()], [("duplicate-row", 2)], id="same-row-twice"),
        pytest.param(
            [row(ssid="", login="t@x.example.org"), row(ssid="", login="t@x.example.org")],
            [("duplicate-row", 2)],
            id="teacher-twice",
        ),
        pytest.param(
            [row(login="t@x.example.org"), row(ssid="", login="t@x.example.org")],
            [("duplicate-row", 2)],
            id="teacher-row-after-teacher-on-student-row",
        ),
        pytest.param(
            [row(login="a@x.example.org"), row(login="b@x.example.org")],
            [("duplicate-student", 2)],
            id="student-twice-with-new-teacher",
        ),
        pytest.param([row(), row(group="Other")], [], id="same-student-in-two-groups"),
        pytest.param(
            [row(login="t@x.example.org"), row(ssid="1234567891", login="u@x.example.org")],
            [],
            id="two-teachers",
        ),
    ],
)
def test_validate_roster_member_problem(rows: list[str], expected: list) -> None:
    assert found(roster(*rows)) == expected


def test_validate_roster_duplicate_names_the_first_row() -> None:
    (problem,) = check(roster(row(), row(group="Other"), row(group="Other"))).problems

    assert (problem.rule, problem.row) == ("duplicate-row", 3)
    assert "first at row 2" in problem.message


@pytest.mark.parametrize(
    ("check_setting", "expected"),
    [
        ("warning", [("ssid-format", 1, Severity.WARNING)]),
        ("error", [("ssid-format", 1, Severity.ERROR)]),
        ("off", []),
    ],
)
def test_validate_roster_ssid_check_setting(check_setting: str, expected: list) -> None:
    chosen = RuleSettings(school_years=(2027,), ssid_check=check_setting)

    report = check(roster(row(ssid="12345")), chosen)

    assert [(p.rule, p.row, p.severity) for p in report.problems] == expected
    assert report.valid is (check_setting != "error")


def test_validate_roster_login_check_off_still_checks_length() -> None:
    chosen = RuleSettings(school_years=(2027,), login_check="off")

    assert found(roster(row(login="jgarcia"), row(ssid="2", login="x" * 300)), chosen) == [
        ("ssid-format", 2),
        ("login-too-long", 2),
    ]


def test_validate_roster_excel_damage_is_an_error_even_with_ssid_check_off() -> None:
    chosen = RuleSettings(school_years=(2027,), ssid_check="off")

    assert found(roster(row(ssid="1.23457E+09")), chosen) == [("excel-scientific-notation", 1)]


def test_validate_roster_warnings_are_errors() -> None:
    strict = RuleSettings(school_years=(2027,), warnings_are_errors=True)

    report = check(roster(row(login="jgarcia")), strict)

    assert [(p.rule, p.severity) for p in report.problems] == [("login-format", Severity.ERROR)]
    assert not report.valid


# --- groups and schools ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [row(school=SCHOOL_A), row(school=SCHOOL_B), row(school=SCHOOL_A, ssid="2" * 10)],
            [("school-not-contiguous", 3)],
            id="school-returns",
        ),
        pytest.param(
            [row(group="A"), row(group="B"), row(group="A", ssid="2" * 10)],
            [("group-not-contiguous", 3)],
            id="group-returns",
        ),
        pytest.param(
            [row(group="A"), row(school=SCHOOL_B), row(group="A", school=SCHOOL_B)],
            [],
            id="group-key-includes-school",
        ),
        pytest.param(
            [row(group="A"), row(group=""), row(group="A", ssid="2" * 10)],
            [("group-name-blank", 2)],
            id="blank-key-row-joins-no-group",
        ),
    ],
)
def test_validate_roster_contiguity_problem(rows: list[str], expected: list) -> None:
    assert found(roster(*rows)) == expected


def test_validate_roster_group_too_large_reports_first_row_of_group() -> None:
    rows = [row(group="Small"), *students(MAX_STUDENTS_PER_GROUP + 1, group="Big")]

    (problem,) = check(roster(*rows, row(group="Next"))).problems

    assert (problem.rule, problem.row) == ("group-too-large", 2)
    assert f"has {MAX_STUDENTS_PER_GROUP + 1} rows" in problem.message


def test_validate_roster_group_too_large_counts_only_rows_with_ssid() -> None:
    teachers = [row(ssid="", login=f"t{n}@x.example.org") for n in range(5)]

    assert found(roster(*students(MAX_STUDENTS_PER_GROUP), *teachers)) == []


def test_validate_roster_group_too_large_counts_repeated_students() -> None:
    rows = students(MAX_STUDENTS_PER_GROUP) + [row(ssid="1000000000", login="t@x.example.org")]

    assert found(roster(*rows)) == [("duplicate-student", 201), ("group-too-large", 1)]


def test_validate_roster_group_too_large_at_end_of_file() -> None:
    assert found(roster(*students(MAX_STUDENTS_PER_GROUP + 1))) == [("group-too-large", 1)]


# --- every failing row, flat memory ------------------------------------------------------------


def test_validate_roster_reports_every_failing_row_and_summarises_per_rule() -> None:
    rows = [row(ssid=f"{n:010d}")[:-1] for n in range(5000)]

    report = check(roster(*rows))

    assert report.error_count == 5000
    assert [p.row for p in report.problems] == list(range(1, 5001))
    summary = report.summary["field-count"]
    assert (summary.count, summary.first_rows) == (5000, list(range(1, 11)))
    assert report.rule_counts == {"field-count": 5000}


def test_validate_roster_problem_spool_moves_to_disk_when_large() -> None:
    rows = [row(ssid=f"{n:010d}")[:-1] for n in range(60_000)]

    report = check(roster(*rows))

    assert report.problems._file._rolled  # the spool left memory for a temporary file
    assert report.summary["field-count"].count == 60_000
    assert sum(1 for _ in report.problems) == 60_000
    report.close()


def test_validate_roster_problems_can_be_read_twice() -> None:
    report = check(roster(row(year="27"), row(group="B", year="27")))

    assert list(report.problems) == list(report.problems)
    assert [p.rule for p in report.errors()] == ["school-year-format"] * 2
    assert list(report.warnings()) == []


def test_validate_roster_messages_never_quote_file_values() -> None:
    secrets = (
        "5550001234",
        "secret.person@x.example.org",
        "Secret Group",
        "SCHOOL_ZZ",
        "19-20",
        "Science",
        "9.9E+13",
    )
    rows = [
        row(group="Secret Group", school="SCHOOL_ZZ", ssid="5550001234", login=secrets[1]),
        row(group="Secret Group", school="SCHOOL_ZZ", year="19-20", subject="Science"),
        row(group="Secret Group", school="SCHOOL_ZZ", subject="ELA", ssid="5550001234")[:-1],
        row(school="OTHER"),
        row(group="Secret Group", school="SCHOOL_ZZ", subject="ELA"),
        row(group='"Secret Group"', school="9.9E+13", ssid="5550001234 ", login="x\\y"),
    ]

    problems = list(check(roster(*rows)).problems)

    assert len(problems) >= 10
    assert not any(secret in problem.message for problem in problems for secret in secrets)


# --- digest, size and streams ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(roster(*students(50)), id="valid"),
        pytest.param(b"\xff" * 200_000, id="not-utf8-early"),
        pytest.param(roster(row()) + b"\xff" + b"x" * 200_000, id="not-utf8-late"),
        pytest.param(roster(header="wrong") + b"x\r\n" * 50_000, id="wrong-header"),
        pytest.param(roster(*students(30_000)), id="several-chunks"),
    ],
)
def test_validate_roster_digest_and_size_cover_every_byte(data: bytes) -> None:
    report = check(data)

    assert report.digest == hashlib.md5(data, usedforsecurity=False).hexdigest().upper()
    assert report.size == len(data)


def test_validate_roster_reads_botocore_streaming_body() -> None:
    data = roster(*students(30))

    report = validate_roster(StreamingBody(io.BytesIO(data), len(data)), SETTINGS)

    assert (report.valid, report.rows) == (True, 30)
    assert report.digest == hashlib.md5(data, usedforsecurity=False).hexdigest().upper()


@pytest.mark.parametrize("path", [VALID, INVALID], ids=["valid", "invalid"])
def test_validate_roster_short_reads_give_the_same_report(path) -> None:
    data = path.read_bytes()

    trickled = validate_roster(_TrickleStream(data), SETTINGS)

    assert _snapshot(trickled) == _snapshot(check(data))


def test_validate_roster_rows_across_chunks_keep_their_numbers() -> None:
    rows = students(20_000, group="Big") + [row(group="Big", ssid="1000000005")]

    report = check(roster(*rows))

    assert [(p.rule, p.row) for p in report.problems] == [
        ("duplicate-row", 20_001),
        ("group-too-large", 1),
    ]


def test_validate_roster_reports_progress_in_bytes() -> None:
    data = roster(*students(40_000))
    seen: list[int] = []

    check(data, progress=seen.append)

    assert seen == sorted(seen)
    assert seen[-1] == len(data)


# --- sample files --------------------------------------------------------------------------


def test_sample_valid_roster_has_no_problems() -> None:
    data = VALID.read_bytes()

    report = check(data)

    assert list(report.problems) == []
    assert (report.rows, report.schools, report.groups) == (100, 3, 9)
    assert report.digest == hashlib.md5(data, usedforsecurity=False).hexdigest().upper()


def test_sample_valid_roster_matches_the_demo_setup() -> None:
    data = VALID.read_bytes()
    records = list(csv.reader(io.StringIO(data.decode("ascii"), newline="")))

    assert data.startswith(HEADER_LINE.encode() + b"\r\n")
    assert data.count(b"\r\n") == data.count(b"\n") == len(records)
    assert {record[1] for record in records[1:]} == {
        "99123450111111",
        "99123450122222",
        "99123450133333",
    }
    assert {record[2] for record in records[1:]} == {"2027"}
    assert all(len(record[4]) in (0, 10) for record in records[1:])
    assert any(not record[4] and "@" in record[5] for record in records[1:])


def test_sample_invalid_roster_gives_the_designed_problems() -> None:
    report = check(INVALID.read_bytes())

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
    row().encode(),
    row(group="B", subject="ELA").encode(),
    row(school=SCHOOL_B, year="27").encode(),
    b",",
    b'"',
    b"\\",
    b"\r\n",
    b"\n",
    b"\r",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xf0\x9f\x98\x80",
    b"\x00",
    b" ",
    b"\t",
    b"Math",
]


def _assert_sound(data: bytes, report: RosterReport) -> None:
    assert isinstance(report, RosterReport)
    assert report.digest == hashlib.md5(data, usedforsecurity=False).hexdigest().upper()
    assert report.size == len(data)
    problems = list(report.problems)
    assert report.error_count + report.warning_count == len(problems)
    assert all(problem.row is None or 1 <= problem.row <= report.rows + 1 for problem in problems)
    assert report.valid or report.error_count


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_validate_roster_arbitrary_bytes_never_raise(data: bytes) -> None:
    _assert_sound(data, check(data))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=60).map(b"".join))
def test_validate_roster_csv_like_bytes_never_raise(data: bytes) -> None:
    _assert_sound(data, check(data))


def test_readme_lists_every_rule() -> None:
    readme = (VALID.parents[2] / "README.md").read_text(encoding="utf-8")

    assert [rule for rule in RULES if f"`{rule}`" not in readme] == []


def test_validate_roster_header_without_line_break_is_too_long_for_the_file() -> None:
    assert found(b"x" * (MAX_LINE_CHARS * 40)) == [("line-too-long", None)]
