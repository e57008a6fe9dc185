"""Roster rules: what a CERS student-group CSV must look like before it is sent.

Pure domain code: no AWS calls. Reads the file as a stream of bytes, once, and never holds it
in memory: the digest and size cover every byte, even when the rows cannot be read.

Row numbers follow CERS: row N is the N-th data record after the header. A blank line is
skipped and not counted (as CERS does), but it is reported as ``blank-line`` because the CERS
loader, unlike its validator, turns it into an empty row.

Messages never quote a value from the file (no SSID, login, group name or school id): they go
into alert e-mails and logs. They name the column and the expected shape instead.
"""

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

HEADER = (
    "group_name",
    "school_natural_id",
    "school_year",
    "subject_code",
    "student_ssid",
    "group_user_login",
)
MAX_DATA_ROWS = 1_000_000
MAX_STUDENTS_PER_GROUP = 200
MAX_GROUP_NAME_LENGTH = 100
SUBJECT_CODES = frozenset({"all", "math", "ela"})
MAX_PROBLEMS_PER_RULE = 20
MAX_LINE_CHARS = 65_536

GROUP, SCHOOL, YEAR, SUBJECT, SSID, LOGIN = range(len(HEADER))

_HEADER_LINE = ",".join(HEADER)
_READ_CHUNK = 1 << 16

# Rule id -> message. Ids are stable (alerts and tests rely on them); messages say what is
# wrong and how to fix it, and are filled in only with numbers and column names.
RULES: dict[str, str] = {
    "empty-file": (
        "The file is empty. Export the roster again: the first line must be the header "
        f"{_HEADER_LINE} and each further line one student or teacher of a group."
    ),
    "not-utf8": (
        "The file is not UTF-8 text. Save it again as UTF-8 "
        "(in Excel: 'CSV UTF-8 (Comma delimited)')."
    ),
    "header-mismatch": (
        f"The first line must be exactly {_HEADER_LINE}: six column names in this order, "
        "separated by commas, with no spaces and no extra columns. {hint}"
    ),
    "no-data-rows": (
        "The file has a header but no data rows. Add one line per student or teacher of each "
        "group below the header."
    ),
    "too-many-rows": (
        f"The file has {{rows:,}} data rows; CERS accepts at most {MAX_DATA_ROWS:,} per file. "
        "Split it into several files (about 100,000 rows each avoids time-outs)."
    ),
    "line-too-long": (
        f"This line is longer than {MAX_LINE_CHARS:,} characters, so the file was not read "
        "further. A roster line is a few hundred characters at most: check that the file is a "
        "roster CSV with a line break after every row."
    ),
    "csv-malformed": (
        "This row cannot be read as CSV: a double quote is misplaced or never closed. "
        "Remove double quotes from the values (CERS cannot read this row either)."
    ),
    "blank-line": (
        "A blank line follows {where}. CERS skips it, but its loader turns it into an empty "
        "row: delete every blank line."
    ),
    "field-count": (
        "This row has {fields} fields; every row needs exactly six, separated by commas, even "
        "when some are blank (a student row without a login still ends with a comma)."
    ),
    "group-name-blank": "group_name is blank. Every row needs the name of its student group.",
    "school-id-blank": (
        "school_natural_id is blank. Every row needs the school's 14-digit CDS code."
    ),
    "school-year-blank": (
        "school_year is blank. Every row needs the school year as four digits, e.g. 2027 for "
        "the 2026-27 school year."
    ),
    "group-name-characters": (
        "group_name may contain only letters A-Z and a-z, digits, '_' and '-' (no spaces or "
        "other characters). Rename the group, e.g. Gr5_Math_Rm12."
    ),
    "group-name-too-long": (
        f"group_name is longer than {MAX_GROUP_NAME_LENGTH} characters. Shorten the group name."
    ),
    "school-year-format": (
        "school_year must be exactly four digits, e.g. 2027 for the 2026-27 school year."
    ),
    "subject-code-unknown": (
        "subject_code must be blank, All, Math or ELA (any case, no spaces around it)."
    ),
    "group-subject-changes": (
        "subject_code differs from the subject given earlier to this group (the group starts "
        "at row {first_row}). Use the same subject_code on every row of a group; All and a "
        "subject count as different."
    ),
    "group-too-large": (
        f"The group that starts at this row has {{students}} rows with a student_ssid; at most "
        f"{MAX_STUDENTS_PER_GROUP} students are allowed per group. Split it into smaller groups."
    ),
    "school-not-contiguous": (
        "This school already appeared earlier in the file, with another school in between. "
        "Keep all rows of a school together (sort by school_natural_id, then group_name, then "
        "school_year)."
    ),
    "group-not-contiguous": (
        "This group and school year already appeared earlier in this school's rows, with "
        "another group in between (group names are compared ignoring case). Keep all rows of "
        "a group together (sort by group_name, then school_year, within each school)."
    ),
}

RULE_REPEATS = (
    "The rule above is broken {count:,} more times from this row on; only the first "
    f"{MAX_PROBLEMS_PER_RULE} are listed. Fix every occurrence."
)


def _is_blank(value: str) -> bool:
    return not value or value.isspace()


_GROUP_NAME_SHAPE = re.compile(r"[A-Za-z0-9_-]+")
_SCHOOL_YEAR_SHAPE = re.compile(r"[0-9]{4}")

# Columns that make up a group's key, with the rule broken when one is blank.
_REQUIRED_COLUMNS: tuple[tuple[int, str], ...] = (
    (GROUP, "group-name-blank"),
    (SCHOOL, "school-id-blank"),
    (YEAR, "school-year-blank"),
)

# (rule id, column, is_broken) for key columns that are present. They are checked once per run
# of rows with the same group, school and year, not on every row.
_KEY_RULES: tuple[tuple[str, int, Callable[[str], bool]], ...] = (
    ("group-name-characters", GROUP, lambda name: not _GROUP_NAME_SHAPE.fullmatch(name)),
    ("group-name-too-long", GROUP, lambda name: len(name) > MAX_GROUP_NAME_LENGTH),
    ("school-year-format", YEAR, lambda year: not _SCHOOL_YEAR_SHAPE.fullmatch(year)),
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule. ``row`` is the N-th data record after the header; None for the file."""

    rule: str
    row: int | None
    message: str


@dataclass(slots=True)
class RosterReport:
    """What one pass over a roster found.

    ``rows`` counts data records (blank lines excluded); when reading stopped early (not-utf8,
    line-too-long) it counts the records read until then. ``size`` and ``digest`` (uppercase
    MD5 hex, as CERS reports it) always cover every byte of the stream. ``schools`` and
    ``groups`` count contiguous school blocks and (school, group, year) blocks.
    """

    rows: int = 0
    size: int = 0
    digest: str = ""
    schools: int = 0
    groups: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


class _LineTooLong(Exception):
    """A line with no line break within MAX_LINE_CHARS: reading it would not be bounded."""


class _HashingReader(io.RawIOBase):
    """Passes the caller's bytes through, counting and hashing each one exactly once."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:
        data = self._take(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Reads what the parser left unread, so digest and size cover the whole file."""
        while self._take(_READ_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return self._md5.hexdigest().upper()

    def _take(self, limit: int) -> bytes:
        data = self._stream.read(limit) or b""
        self._md5.update(data)
        self.size += len(data)
        return data


class _ProblemLog:
    """Collects problems, listing at most MAX_PROBLEMS_PER_RULE per rule plus one summary."""

    def __init__(self, problems: list[Problem]) -> None:
        self._problems = problems
        self._counts: dict[str, int] = {}
        self._first_unlisted: dict[str, int | None] = {}

    def add(self, rule: str, row: int | None, **details: object) -> None:
        count = self._counts.get(rule, 0) + 1
        self._counts[rule] = count
        if count <= MAX_PROBLEMS_PER_RULE:
            self._problems.append(Problem(rule, row, RULES[rule].format(**details)))
        elif count == MAX_PROBLEMS_PER_RULE + 1:
            self._first_unlisted[rule] = row

    def close(self) -> None:
        """Adds one summary problem for every rule that broke more often than was listed."""
        for rule, row in self._first_unlisted.items():
            unlisted = self._counts[rule] - MAX_PROBLEMS_PER_RULE
            self._problems.append(Problem(rule, row, RULE_REPEATS.format(count=unlisted)))


def _bounded_lines(text: io.TextIOBase) -> Iterator[str]:
    """Yields lines (line break kept) and stops at one too long to be a roster line."""
    readline = text.readline
    while line := readline(MAX_LINE_CHARS):
        if len(line) >= MAX_LINE_CHARS:
            raise _LineTooLong
        yield line


def _header_hint(header: list[str]) -> str:
    """Says what is wrong with a header, without quoting it."""
    if not header:
        return "The first line is blank: delete it."
    if len(header) == 1:
        return "It has one column: separate the names with commas, not tabs or semicolons."
    for position, (found, expected) in enumerate(zip(header, HEADER, strict=False), start=1):
        if found.lower() != expected:
            return f"Column {position} should be {expected}."
    return f"It has {len(header)} columns instead of six."


class _RosterChecker:
    """Checks data records in one pass, keeping O(1) state per group block.

    A block is a contiguous run of rows with the same (school, group, year); group names are
    compared ignoring case. Only the schools already finished and the group keys already
    finished within the current school are remembered.
    """

    def __init__(self, report: RosterReport, log: _ProblemLog) -> None:
        self.report = report
        self.log = log
        self.row = 0
        self.read_to_end = False
        self.finished_schools: set[str] = set()
        self.school: str | None = None
        self.school_groups: set[tuple[str, str]] = set()
        self.group: tuple[str, str] | None = None
        self.group_first_row = 0
        self.students = 0
        self.subject_seen: str | None = None
        self.group_subject: str | None = None

    def check_file(self, records: Iterator[list[str]]) -> None:
        """Checks the header, then every record; bad CSV quoting costs one row, not the file."""
        header_ok = self._check_header(records)
        if header_ok is None:
            return

        check = self.check_rows if header_ok else self.count_rows
        while True:
            try:
                check(records)
                break
            except csv.Error:
                self.row += 1
                self.log.add("csv-malformed", self.row)

        self.read_to_end = True

    def check_rows(self, records: Iterator[list[str]]) -> None:
        """The hot loop: a row in the same block as the one before costs a few compares."""
        key: tuple[str, str, str] | None = None
        for record in records:
            try:
                group, school, year, subject, ssid, _login = record
            except ValueError:
                self._check_irregular(record)
                continue

            self.row += 1
            if key != (group, school, year):
                key = (group, school, year) if self._enter_key(record) else None
                if key is None:
                    continue

            if subject != self.subject_seen:
                self._check_subject(subject)

            if ssid and not ssid.isspace():
                self.students += 1

    def count_rows(self, records: Iterator[list[str]]) -> None:
        """Counts data records without checking them (the header is wrong, columns unknown)."""
        for record in records:
            if record:
                self.row += 1

    def finish(self) -> None:
        """Closes the last group and applies the rules about the file as a whole."""
        self._close_group()
        if not self.read_to_end:
            return

        if self.row == 0:
            self.log.add("no-data-rows", None)
        if self.row > MAX_DATA_ROWS:
            self.log.add("too-many-rows", MAX_DATA_ROWS + 1, rows=self.row)

    def _check_header(self, records: Iterator[list[str]]) -> bool | None:
        """True when the header is right; None when the file has no text at all."""
        try:
            header = next(records, None)
        except csv.Error:
            self.log.add("header-mismatch", None, hint="Its quotes cannot be read.")
            return False

        if header is None:
            self.log.add("empty-file", None)
            return None

        if tuple(name.lower() for name in header) == HEADER:
            return True

        self.log.add("header-mismatch", None, hint=_header_hint(header))
        return False

    def _check_irregular(self, record: list[str]) -> None:
        if not record:
            where = f"row {self.row}" if self.row else "the header"
            self.log.add("blank-line", self.row or None, where=where)
            return

        self.row += 1
        self.log.add("field-count", self.row, fields=len(record))

    def _enter_key(self, record: list[str]) -> bool:
        """Checks a row whose group, school or year differs from the row before.

        Returns False when a key column is blank: CERS skips such a row, so it joins no block.
        """
        blank = [rule for column, rule in _REQUIRED_COLUMNS if _is_blank(record[column])]
        for rule in blank:
            self.log.add(rule, self.row)
        if blank:
            return False

        for rule, column, is_broken in _KEY_RULES:
            if is_broken(record[column]):
                self.log.add(rule, self.row)

        self._place_in_block(record[SCHOOL], (record[GROUP].lower(), record[YEAR]))
        return True

    def _place_in_block(self, school: str, group: tuple[str, str]) -> None:
        if school != self.school:
            self._close_group()
            self._open_school(school)
            self._open_group(group)
        elif group != self.group:
            self._close_group()
            if group in self.school_groups:
                self.log.add("group-not-contiguous", self.row)
            self._open_group(group)

    def _open_school(self, school: str) -> None:
        if self.school is not None:
            self.finished_schools.add(self.school)
        if school in self.finished_schools:
            self.log.add("school-not-contiguous", self.row)

        self.school = school
        self.school_groups = set()
        self.report.schools += 1

    def _open_group(self, group: tuple[str, str]) -> None:
        self.group = group
        self.group_first_row = self.row
        self.students = 0
        self.subject_seen = None
        self.group_subject = None
        self.report.groups += 1

    def _close_group(self) -> None:
        if self.group is None:
            return

        self.school_groups.add(self.group)
        if self.students > MAX_STUDENTS_PER_GROUP:
            self.log.add("group-too-large", self.group_first_row, students=self.students)

    def _check_subject(self, subject: str) -> None:
        """Checks a subject that differs from the previous row's; blank never conflicts."""
        self.subject_seen = subject
        if _is_blank(subject):
            return

        code = subject.lower()
        if code not in SUBJECT_CODES:
            self.log.add("subject-code-unknown", self.row)
        elif self.group_subject is None:
            self.group_subject = code
        elif code != self.group_subject:
            self.log.add("group-subject-changes", self.row, first_row=self.group_first_row)


def validate_roster(stream: BinaryIO) -> RosterReport:
    """Checks a roster read from ``stream`` (anything with ``read(n)`` returning bytes).

    Never raises for the file's content: undecodable or unparsable bytes end in a problem.
    Errors raised by the stream itself (a lost connection) are not caught.
    """
    source = _HashingReader(stream)
    report = RosterReport()
    log = _ProblemLog(report.problems)
    checker = _RosterChecker(report, log)
    text = io.TextIOWrapper(
        io.BufferedReader(source, _READ_CHUNK), encoding="utf-8-sig", newline=""
    )

    try:
        checker.check_file(csv.reader(_bounded_lines(text), strict=True))
    except UnicodeDecodeError:
        log.add("not-utf8", None)
    except _LineTooLong:
        log.add("line-too-long", checker.row + 1)

    checker.finish()
    log.close()
    source.drain()

    report.rows = checker.row
    report.size = source.size
    report.digest = source.digest
    return report


def roster_records(stream: BinaryIO) -> Iterator[list[str]]:
    """The CSV records of a roster (the header first), read exactly as ``validate_roster`` reads
    them, for other single-pass readers of a file that has passed validation.

    Raises ``csv.Error``, ``UnicodeDecodeError`` or ``_LineTooLong`` only for a file that
    validation rejects.
    """
    text = io.TextIOWrapper(
        io.BufferedReader(_HashingReader(stream), _READ_CHUNK), encoding="utf-8-sig", newline=""
    )
    return csv.reader(_bounded_lines(text), strict=True)
