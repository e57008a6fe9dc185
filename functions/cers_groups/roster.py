"""Roster validation: every rule of ``roster_rules`` in one streaming pass over the bytes.

Pure domain code: no AWS calls. The file is read once, in chunks, and never held in memory; the
digest and size cover every byte, even when the rows cannot be read. Problems go to a spool
that moves to a temporary file once it outgrows a small buffer, so memory stays flat however
many rows fail; only a per-rule summary (count and first rows) is kept in memory.

Speed: a chunk whose bytes are plain printable ASCII with exactly six fields on every line and
one kind of line ending (checked with two C-level byte operations) goes straight to the row
loop. Any other chunk takes the careful path, which looks at every character of every line and
names the row. Once a double quote appears, the rest of the file is read as RFC 4180 CSV, as
CERS reads it, so a quoted line break still counts as one row.

Row numbers follow CERS: row N is the N-th data record after the header. A blank line is
skipped and not counted (as CERS does), but it is reported as ``blank-line``.
"""

import csv
import hashlib
import io
import json
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from itertools import repeat
from typing import BinaryIO

from cers_groups.roster_rules import (
    CDS_DIGITS,
    CONFIGURABLE,
    HEADER,
    MAX_FILE_BYTES,
    MAX_FILE_NAME_LENGTH,
    MAX_GROUP_NAME_LENGTH,
    MAX_LINE_CHARS,
    MAX_LOGIN_LENGTH,
    MAX_SCHOOL_ID_LENGTH,
    MAX_SSID_LENGTH,
    MAX_STUDENTS_PER_GROUP,
    RULES,
    SSID_DIGITS,
    Problem,
    Severity,
)
from cers_groups.tenants import RuleSettings

__all__ = [
    "HEADER",
    "Problem",
    "RosterReport",
    "RuleSummary",
    "refuse_oversized",
    "validate_roster",
]

READ_CHUNK = 1 << 20
FIRST_ROWS_KEPT = 10
# Distinct students (or logins) remembered per group for duplicate checks. A group this big is
# already far over the 200-student limit; past it, memory stays flat and duplicates go unseen.
MEMBER_TRACKING_LIMIT = 50_000
SPOOL_MEMORY_BYTES = 1 << 20
_HASH_IN_THREAD_BYTES = 1 << 16  # smaller reads are hashed at once
_HASHING_AHEAD = 2  # chunks read but not yet hashed, at most

_BOM = b"\xef\xbb\xbf"
_EOL_NAMES = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}
# Bytes of a value that never need a closer look: printable ASCII except space, '"', '\', ','.
_PLAIN_BYTES = bytes(b for b in range(0x21, 0x7F) if b not in b'"\\,')
_SKELETONS = {eol: (",,,,," + eol).encode() for eol in _EOL_NAMES}
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
_NEEDS_LOOK = re.compile(r"[^!#-+\--\[\]-~]")  # anything but plain printable ASCII sans , " \
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_UNDECODED = re.compile("[\udc80-\udcff]")

_GROUP_NAME_SHAPE = re.compile(r"[A-Za-z0-9_-]+")
_YEAR_SHAPE = re.compile(r"[0-9]{4}")
_DIGITS = re.compile(r"[0-9]+")
_SCIENTIFIC = re.compile(r"[+-]?[0-9](?:\.[0-9]+)?[eE][+-]?[0-9]+")
_DECIMAL_SUFFIX = re.compile(r"[0-9]+\.0+")
# An e-mail address: something@domain.tld, no spaces, quotes or brackets (accented letters fine).
_NOT_IN_EMAIL = r'\s\x00-\x1f\x7f@"(),:;<>\[\\\]'
_EMAIL = re.compile(rf"[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}.]+(?:\.[^{_NOT_IN_EMAIL}.]+)+")
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_BINARY_MAGIC = (b"\x1f\x8b", b"%PDF-", b"BZh", b"7z\xbc\xaf\x27\x1c")  # gzip, PDF, bzip2, 7z
# What a saved web page, JSON or XML document starts with (after any spaces): never a header.
_DOCUMENT_STARTS = ("<", "{", "[")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


# --- the report ------------------------------------------------------------------------------


@dataclass(slots=True)
class RuleSummary:
    """How often one rule broke, and the first rows where it did."""

    rule: str
    severity: Severity
    details: dict  # what the message of its first occurrence is filled in with
    count: int = 0
    first_rows: list[int | None] = field(default_factory=list)


class ProblemSpool:
    """Every problem found, in the order found; on disk past SPOOL_MEMORY_BYTES.

    Stored compactly (rule, row and the numbers its message needs); messages are rendered when
    read back, with the district settings the validation used.
    """

    def __init__(self, context: dict[str, object] | None = None) -> None:
        # Lives as long as the report; RosterReport.close() closes it.
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self._context = context or {}
        # Rows named inside messages (first_row) are rows of the validated bytes; when those
        # are a normalized copy, this maps them to rows of the dropped file.
        self.row_map: Callable[[int], int] | None = None
        self._severities: dict[str, Severity] = {}
        self.count = 0

    def add(self, rule: str, row: int | None, severity: Severity, details: dict) -> None:
        self._severities[rule] = severity
        self._file.seek(0, 2)
        encoded = json.dumps(details, separators=(",", ":")) if details else ""
        self._file.write(f"{rule}\t{'' if row is None else row}\t{encoded}\n".encode())
        self.count += 1

    def __iter__(self) -> Iterator[Problem]:
        self._file.seek(0)
        for line in self._file:
            rule, row, encoded = line.decode().rstrip("\n").split("\t", 2)
            details = json.loads(encoded) if encoded else {}
            yield Problem(
                rule,
                int(row) if row else None,
                self.message(rule, details),
                self._severities[rule],
            )
        self._file.seek(0, 2)

    def message(self, rule: str, details: dict) -> str:
        if self.row_map is not None:
            details = {
                name: self.row_map(value) if name.endswith("_row") else value
                for name, value in details.items()
            }
        return RULES[rule].message.format(**self._context, **details)

    def close(self) -> None:
        self._file.close()


@dataclass(slots=True, eq=False)
class RosterReport:
    """What one pass over a roster found.

    ``rows`` counts data records (blank lines excluded); when reading stopped early it counts
    the records read until then. ``size`` and ``digest`` (uppercase MD5 hex, as CERS reports
    it) always cover every byte of the stream. ``schools`` and ``groups`` count contiguous
    school blocks and (school, group, year) blocks. ``summary`` has one entry per rule broken,
    in the order first broken; ``problems`` iterates every problem.
    """

    rows: int = 0
    size: int = 0
    digest: str = ""
    schools: int = 0
    groups: int = 0
    summary: dict[str, RuleSummary] = field(default_factory=dict)
    problems: ProblemSpool = field(default_factory=ProblemSpool)
    error_count: int = 0
    warning_count: int = 0
    _log: "_ProblemLog | None" = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    @property
    def rule_counts(self) -> dict[str, int]:
        return {rule: summary.count for rule, summary in self.summary.items()}

    def errors(self) -> Iterator[Problem]:
        return (problem for problem in self.problems if problem.severity is Severity.ERROR)

    def warnings(self) -> Iterator[Problem]:
        return (problem for problem in self.problems if problem.severity is Severity.WARNING)

    def summary_message(self, rule: str) -> str:
        """The message of the rule's first occurrence."""
        return self.problems.message(rule, self.summary[rule].details)

    def broken_rules(self, severity: Severity) -> set[str]:
        return {rule for rule, summary in self.summary.items() if summary.severity is severity}

    def add(self, rule: str, row: int | None, **details: object) -> None:
        """Records a problem found after the pass (such as a school too big to split)."""
        self._log.add(rule, row, **details)
        self._log.flush()

    def close(self) -> None:
        self.problems.close()


def rule_severities(settings: RuleSettings) -> dict[str, Severity | None]:
    """Each rule's severity for a district; None for a rule the district turned off."""
    severities: dict[str, Severity | None] = {rule.id: rule.severity for rule in RULES.values()}
    for rule, setting in CONFIGURABLE.items():
        check = getattr(settings, setting)
        severities[rule] = None if check == "off" else Severity(check)
    if settings.warnings_are_errors:
        severities = {
            rule: Severity.ERROR if severity else None for rule, severity in severities.items()
        }
    return severities


class _ProblemLog:
    """Records problems in the report; a chunk's problems are flushed sorted by row."""

    def __init__(self, report: RosterReport, settings: RuleSettings, years: tuple[int, ...]):
        self._report = report
        report._log = self
        self._severities = rule_severities(settings)
        self._pending: list[tuple[int, str, int | None, dict]] = []
        report.problems = ProblemSpool(
            {
                "years": ", ".join(str(year) for year in years),
                "subjects": ", ".join(settings.subjects),
                "row_limit": settings.row_limit,
            }
        )

    def add(self, rule: str, row: int | None, **details: object) -> None:
        if self._severities[rule] is not None:
            self._pending.append((row or 0, rule, row, details))

    def flush(self) -> None:
        self._pending.sort(key=lambda entry: entry[0])
        for _, rule, row, details in self._pending:
            self._record(rule, row, details)
        self._pending.clear()

    def _record(self, rule: str, row: int | None, details: dict) -> None:
        severity = self._severities[rule]
        summary = self._report.summary.get(rule)
        if summary is None:
            summary = self._report.summary[rule] = RuleSummary(rule, severity, details)
        summary.count += 1
        if len(summary.first_rows) < FIRST_ROWS_KEPT:
            summary.first_rows.append(row)
        if severity is Severity.ERROR:
            self._report.error_count += 1
        else:
            self._report.warning_count += 1
        self._report.problems.add(rule, row, severity, details)


# --- reading bytes -----------------------------------------------------------------------------


class _StopReading(Exception):
    """The rows cannot be read further (a whole-file answer was given)."""


class _Source:
    """Reads the caller's stream, hashing and counting each byte exactly once.

    MD5 runs on a helper thread (hashlib releases the GIL on large buffers), so on a machine
    with a second core the digest costs no wall-clock time. Updates are applied in order.
    """

    def __init__(self, stream: BinaryIO, progress: Callable[[int], None] | None) -> None:
        self._stream = stream
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-md5")
        self._hashing: deque[Future] = deque()
        self._progress = progress
        self.size = 0
        self.eof = False

    def read(self, size: int = READ_CHUNK) -> bytes:
        data = b""
        while not self.eof and len(data) < size:
            piece = self._stream.read(size - len(data)) or b""
            if not piece:
                self.eof = True
                break
            self.size += len(piece)
            data += piece
        self._hash(data)
        if self._progress:
            self._progress(self.size)
        return data

    def _hash(self, data: bytes) -> None:
        if len(data) < _HASH_IN_THREAD_BYTES:
            self._wait_for_hashing(0)
            self._md5.update(data)
            return
        self._hashing.append(self._hasher.submit(self._md5.update, data))
        self._wait_for_hashing(_HASHING_AHEAD)

    def _wait_for_hashing(self, pending: int) -> None:
        while len(self._hashing) > pending:
            self._hashing.popleft().result()

    def drain(self) -> None:
        """Reads what was left unread, so digest and size cover the whole file."""
        while self.read():
            pass

    @property
    def digest(self) -> str:
        self._wait_for_hashing(0)
        self._hasher.shutdown()
        return self._md5.hexdigest().upper()


def _last_break(data: bytes, eof: bool) -> int:
    """Where to cut ``data`` so it ends with a whole line; 0 when no line ends in it."""
    limit = len(data) if eof else len(data) - 1
    position = max(data.rfind(b"\n", 0, limit), data.rfind(b"\r", 0, limit))
    if position < 0:
        return len(data) if eof else 0
    cut = position + 1
    if data[position] == 0x0D and data[cut : cut + 1] == b"\n":
        cut += 1
    return cut


def _lines_of(source: _Source, buffered: bytes) -> Iterator[bytes]:
    """Yields pieces of the stream that end at a line break (the last one at end of file)."""
    data = buffered
    while True:
        if not source.eof:
            data += source.read()
        cut = _last_break(data, source.eof)
        if cut:
            yield data[:cut]
            data = data[cut:]
        elif len(data) > MAX_LINE_CHARS:
            raise _LineTooLong
        if source.eof and not data:
            return


class _LineTooLong(Exception):
    """A line with no line break within MAX_LINE_CHARS: reading it would not be bounded."""


def _plain_lines(chunk: bytes, eol: str) -> list[str] | None:
    """The lines of a chunk that needs no character checks, or None.

    Plain means: printable ASCII without space, double quote or backslash; exactly five
    commas and the header's line ending on every line; no line too long.
    """
    skeleton = _SKELETONS[eol]
    if not chunk.endswith(skeleton[5:]):
        return None
    found = chunk.translate(None, _PLAIN_BYTES)
    lines_found = len(found) // len(skeleton)
    if found != skeleton * lines_found or len(found) != len(skeleton) * lines_found:
        return None

    lines = chunk.decode("ascii").split(eol)
    lines.pop()
    if lines and max(map(len, lines)) > MAX_LINE_CHARS:
        return None
    return lines


def _decode(chunk: bytes) -> str:
    if chunk.isascii():
        return chunk.decode("ascii")
    return chunk.decode("utf-8", errors="surrogateescape")


# --- the validator -----------------------------------------------------------------------------


def validate_roster(
    stream: BinaryIO,
    rules: RuleSettings | None = None,
    *,
    today: date | None = None,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RosterReport:
    """Checks a roster read from ``stream`` (anything with ``read(n)`` returning bytes).

    ``rules`` are the district's settings (defaults when None); ``today`` picks the default
    school years; ``name`` is the file name CERS will be sent (checked for length);
    ``progress`` is called with the number of bytes read so far after every chunk.

    Never raises for the file's content: unreadable bytes end in a problem. Errors raised by
    the stream itself (a lost connection) are not caught.
    """
    settings = rules or RuleSettings()
    years = settings.accepted_school_years(today)
    report = RosterReport()
    log = _ProblemLog(report, settings, years)
    if name is not None and len(name) > MAX_FILE_NAME_LENGTH:
        log.add("file-name-too-long", None, length=len(name))

    source = _Source(stream, progress)
    checker = _RowChecker(report, log, settings, years)
    scanner = _Scanner(source, log, checker)
    try:
        scanner.run()
    except _StopReading:
        pass
    except _LineTooLong:
        log.add("line-too-long", scanner.rows_read + 1 if scanner.header_read else None)
    checker.finish(scanner, source)
    log.flush()
    source.drain()

    report.rows = scanner.rows_read
    report.size = source.size
    report.digest = source.digest
    return report


def refuse_oversized(size: int, rules: RuleSettings | None = None) -> RosterReport | None:
    """The report for a file over the district's ``max_file_bytes``, decided from its size
    alone, before a byte is read; None when the file is within the limit."""
    settings = rules or RuleSettings()
    if size <= settings.max_file_bytes:
        return None

    report = RosterReport(size=size)
    log = _ProblemLog(report, settings, settings.accepted_school_years())
    limit = readable_size(settings.max_file_bytes)
    log.add("file-over-size-limit", None, size=readable_size(size), limit=limit)
    log.flush()
    return report


def readable_size(size: int) -> str:
    """``612 MB``, ``5.0 KB``, ``900 bytes``: one decimal below ten units, none above."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            amount = size / scale
            return f"{amount:.1f} {unit}" if amount < 10 else f"{amount:,.0f} {unit}"
    return f"{size:,} bytes"


class _Scanner:
    """Turns bytes into rows: sniffs the file type, reads the header, then every chunk."""

    def __init__(self, source: _Source, log: _ProblemLog, checker: "_RowChecker") -> None:
        self.source = source
        self.log = log
        self.checker = checker
        self.rows_read = 0
        self.read_to_end = False
        self.header_eol = ""
        self.other_eols = 0
        self.first_other_eol_row: int | None = None
        self.not_utf8_reported = False
        self.header_read = False

    def run(self) -> None:
        start = self.source.read()
        self._sniff(start)
        if start.startswith(_BOM):
            start = start[len(_BOM) :]

        pieces = _lines_of(self.source, start)
        first = next(pieces, b"")
        header_end = _first_break(first)
        header_ok = self._check_header(first[:header_end])
        self.header_read = True
        rest = first[header_end:]
        chunks = _chain_first(rest, pieces)
        if header_ok:
            self._check_chunks(chunks)
        else:
            self._count_rows(chunks)
        self.read_to_end = True

    def _sniff(self, start: bytes) -> None:
        rule = sniff_file_type(start)
        if rule:
            self.log.add(rule, None)
            raise _StopReading

    def _check_header(self, line: bytes) -> bool:
        """True when the rows can be read by column."""
        eol = line[len(line.rstrip(b"\r\n")) :].decode()
        self.header_eol = "\r\n" if eol.startswith("\r\n") else eol[:1]
        text = _decode(line).rstrip("\r\n")
        if not text and not eol:
            self.log.add("empty-file", None)
            raise _StopReading

        try:
            names = next(csv.reader([text], strict=True), [])
        except csv.Error:
            self.log.add("header-mismatch", None, hint="Its quotes cannot be read.")
            return False

        if tuple(name.lower() for name in names) == HEADER:
            if text != ",".join(HEADER):
                how = "in upper case" if '"' not in text else "with quotes"
                self.log.add("header-not-canonical", None, how=how)
            return True

        document = text.lstrip().startswith(_DOCUMENT_STARTS)
        delimiter = "" if document else _other_delimiter(text)
        if delimiter:
            self.log.add("delimiter-not-comma", None, delimiter=delimiter)
        else:
            self.log.add("header-mismatch", None, hint=_header_hint(names))
        return False

    def _count_rows(self, chunks: Iterable[bytes]) -> None:
        """Counts records without checking them (the columns are unknown)."""
        for chunk in chunks:
            lines = _LINE_BREAK.split(_decode(chunk))[::2]
            self.rows_read += len(lines) - lines.count("")

    def _check_chunks(self, chunks: Iterator[bytes]) -> None:
        eol = self.header_eol or "\r\n"
        for chunk in chunks:
            lines = _plain_lines(chunk, eol)
            if lines is not None:
                first = self.rows_read + 1
                self.rows_read += len(lines)
                rows = range(first, first + len(lines))
                self.checker.check(map(str.split, lines, repeat(",")), rows)
            else:
                text = _decode(chunk)
                quote = text.find('"')
                if quote >= 0:
                    line_start = _line_start(text, quote)
                    self._check_text(text[:line_start])
                    self.log.flush()
                    self._check_quoted(text[line_start:], chunks)
                    return
                self._check_text(text)
            self.checker.end_chunk()
            self.log.flush()

    def _check_text(self, text: str) -> None:
        """The careful path: every line, every character, with its row."""
        parts = _LINE_BREAK.split(text)
        records: list[list[str]] = []
        rows: list[int] = []
        for index in range(0, len(parts) - 1, 2):
            line, ending = parts[index], parts[index + 1]
            fields = self._read_line(line, ending)
            if fields is not None:
                records.append(fields)
                rows.append(self.rows_read)
        if len(parts) % 2 and parts[-1]:  # a last line without a line break
            fields = self._read_line(parts[-1], "")
            if fields is not None:
                records.append(fields)
                rows.append(self.rows_read)
        self.checker.check(records, rows)

    def _read_line(self, line: str, ending: str) -> list[str] | None:
        """Counts and checks one physical line; its fields when the row can be checked."""
        if not line:
            self._blank_line()
            return None
        if len(line) > MAX_LINE_CHARS:
            raise _LineTooLong

        self.rows_read += 1
        row = self.rows_read
        self._check_ending(ending, row)
        fields = line.split(",")
        self._check_characters(fields, row)
        if len(fields) != len(HEADER):
            self.log.add("field-count", row, fields=len(fields))
            return None
        return fields

    def _blank_line(self) -> None:
        row = self.rows_read or None
        self.log.add("blank-line", row, where=f"row {row}" if row else "the header")

    def _check_ending(self, ending: str, row: int) -> None:
        if ending and ending != self.header_eol:
            self.other_eols += 1
            if self.first_other_eol_row is None:
                self.first_other_eol_row = row

    def _check_characters(self, fields: list[str], row: int, quoted: bool = False) -> None:
        """Character rules for one record; each rule once per row, naming its columns."""
        broken: dict[str, list[str]] = {}
        for position, value in enumerate(fields):
            if not _NEEDS_LOOK.search(value):
                continue
            column = HEADER[position] if position < len(HEADER) else f"column {position + 1}"
            for rule in _character_rules(value, quoted):
                broken.setdefault(rule, []).append(column)

        for rule, columns in broken.items():
            if rule == "not-utf8":
                self._not_utf8(row)
            else:
                self.log.add(rule, row, column=", ".join(columns))

    def _not_utf8(self, row: int) -> None:
        if self.not_utf8_reported:
            return
        self.not_utf8_reported = True
        hint = (
            "It looks like Windows-1252 (Excel's plain 'CSV (Comma delimited)'): save it as "
            "'CSV UTF-8', or let 'cers-groups fix' convert it."
        )
        self.log.add("not-utf8", row, hint=hint)

    def _check_quoted(self, text: str, chunks: Iterator[bytes]) -> None:
        """From the first double quote on, reads records as RFC 4180 CSV, as CERS does."""
        tap = _LineTap(text, chunks)
        reader = csv.reader(tap, strict=True)
        batch: list[list[str]] = []
        rows: list[int] = []
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error:
                record = None
            self._read_record(record, tap, batch, rows)
            if tap.chunk_done or len(batch) >= 4096:
                self.checker.check(batch, rows)
                batch, rows = [], []
                if tap.chunk_done:
                    tap.chunk_done = False
                    self.checker.end_chunk()
                self.log.flush()
        self.checker.check(batch, rows)
        self.checker.end_chunk()
        self.log.flush()

    def _read_record(self, record, tap: "_LineTap", batch: list, rows: list) -> None:
        endings, quoted = tap.take()
        if record == []:
            self._blank_line()
            return

        self.rows_read += 1
        row = self.rows_read
        for ending in endings[-1:]:
            self._check_ending(ending, row)
        if quoted or record is None:
            self.log.add("quote-character", row)
        if record is None:  # quotes CERS cannot read either
            return

        self._check_characters(record, row, quoted=True)
        if len(record) != len(HEADER):
            self.log.add("field-count", row, fields=len(record))
            return
        batch.append(record)
        rows.append(row)


def _character_rules(value: str, quoted: bool) -> list[str]:
    rules = []
    if value != value.strip():
        rules.append("whitespace-around-value")
    if quoted and "," in value:
        rules.append("field-comma")
    if "\r" in value or "\n" in value:
        rules.append("field-line-break")
    if "\\" in value:
        rules.append("backslash")
    if "\x00" in value:
        rules.append("nul-byte")
    if _CONTROL.search(value.strip().replace("\x00", "").replace("\r", "").replace("\n", "")):
        rules.append("control-character")
    if _NON_BMP.search(value):
        rules.append("non-bmp-character")
    if _UNDECODED.search(value):
        rules.append("not-utf8")
    if not quoted and '"' in value:
        rules.append("quote-character")
    return rules


class _LineTap:
    """Feeds csv.reader physical lines and remembers their endings and any double quote."""

    def __init__(self, text: str, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._lines: Iterator[str] = iter(_split_keep_ends(text))
        self._endings: list[str] = []
        self._quoted = False
        self.chunk_done = False

    def __iter__(self) -> "_LineTap":
        return self

    def __next__(self) -> str:
        line = next(self._lines, None)
        while line is None:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise StopIteration
            self.chunk_done = True
            self._lines = iter(_split_keep_ends(_decode(chunk)))
            line = next(self._lines, None)
        if len(line) > MAX_LINE_CHARS:
            raise _LineTooLong
        body = line.rstrip("\r\n")
        self._endings.append(line[len(body) :])
        self._quoted = self._quoted or '"' in line
        return line

    def take(self) -> tuple[list[str], bool]:
        """The endings and quote flag of the lines read since the last call."""
        taken = (self._endings, self._quoted)
        self._endings, self._quoted = [], False
        return taken


class _RowChecker:
    """Checks records in file order, keeping O(1) state per group block.

    A block is a contiguous run of rows with the same (school, group, year); group names are
    compared ignoring case. Only the schools already finished and the groups already seen in
    the current school are remembered.
    """

    def __init__(
        self,
        report: RosterReport,
        log: _ProblemLog,
        settings: RuleSettings,
        years: tuple[int, ...],
    ) -> None:
        self.report = report
        self.log = log
        self.settings = settings
        self.years = {str(year) for year in years}
        self.year_problems: dict[str, list[tuple[str, dict]]] = {}
        self.subjects = {subject.lower() for subject in settings.subjects} | {"all"}
        self.allowed_schools = settings.allowed_schools
        self.ssid_checked = settings.ssid_check != "off"
        self.login_checked = settings.login_check != "off"
        # The raw key of the previous row; a row with the same raw key joins its block at once.
        self.key: tuple[str, str, str] | None = None
        self.finished_schools: dict[str, int] = {}
        self.school: str | None = None
        self.school_first_row = 0
        self.school_groups: dict[tuple[str, str], tuple[str, int]] = {}
        self.group: tuple[str, str] | None = None
        self.group_first_row = 0
        self.subject_seen: str | None = None
        self.group_subject: str | None = None
        self.first_blank_subject: int | None = None
        self.ssids: dict[str, int] = {}
        self.logins: dict[str, int] = {}
        self.repeated_students = 0
        self.untracked_students = 0

    def check(self, records: Iterable[list[str]], rows: Iterable[int]) -> None:
        """The hot loop: a row in the same block as the one before costs a few compares."""
        key_group, key_school, key_year = self.key or (None, None, None)
        subject_seen = self.subject_seen
        ssids, logins = self.ssids, self.logins
        for row, (group, school, year, subject, ssid, login) in zip(rows, records, strict=False):
            if group != key_group or school != key_school or year != key_year:
                self.subject_seen = subject_seen
                if not self._enter_key(row, group, school, year):
                    key_group = None
                    continue
                key_group, key_school, key_year = group, school, year
                subject_seen = self.subject_seen
                ssids, logins = self.ssids, self.logins

            if subject != subject_seen:
                subject_seen = subject
                self._check_subject(row, subject)

            if ssid:
                first = ssids.setdefault(ssid, row)
                if first != row or len(ssid) != SSID_DIGITS or not ssid.isdigit():
                    self._check_student(row, ssid, login, first)
                elif login and logins.setdefault(login, row) == row:
                    self._check_login(row, login)
            elif login:
                first = logins.setdefault(login, row)
                if first != row:
                    self.log.add("duplicate-row", row, first_row=first)
                else:
                    self._check_login(row, login)

        self.key = (key_group, key_school, key_year) if key_group is not None else None
        self.subject_seen = subject_seen

    def end_chunk(self) -> None:
        """Keeps memory flat inside a huge group: forget members past the tracking limit."""
        if len(self.ssids) > MEMBER_TRACKING_LIMIT:
            self.untracked_students += len(self.ssids)
            self.ssids.clear()
        if len(self.logins) > MEMBER_TRACKING_LIMIT:
            self.logins.clear()

    def finish(self, scanner: _Scanner, source: _Source) -> None:
        """Closes the last group and applies the rules about the file as a whole."""
        self._close_group()
        if scanner.first_other_eol_row is not None:
            self.log.add(
                "line-endings-mixed",
                scanner.first_other_eol_row,
                header_eol=_EOL_NAMES.get(scanner.header_eol, "nothing"),
                count=scanner.other_eols,
            )
        if source.size > MAX_FILE_BYTES:
            self.log.add("file-too-large", None, size_mb=source.size // (1024 * 1024))
        if not scanner.read_to_end:
            return

        if scanner.rows_read == 0:
            self.log.add("no-data-rows", None)
        if scanner.rows_read > self.settings.row_limit:
            self.log.add("too-many-rows", self.settings.row_limit + 1, rows=scanner.rows_read)

    # --- blocks ----------------------------------------------------------------------------

    def _enter_key(self, row: int, group: str, school: str, year: str) -> bool:
        """A row whose raw group, school or year differs from the row before.

        Returns False when a key column is blank: CERS skips such a row, so it joins no block
        (and the next row is looked at again, so each such row is reported).
        """
        blank = False
        for value, rule in (
            (group, "group-name-blank"),
            (school, "school-id-blank"),
            (year, "school-year-blank"),
        ):
            if not value or value.isspace():
                self.log.add(rule, row)
                blank = True
        if blank:
            return False

        group_key = (group.lower(), year)
        if school != self.school:
            self._close_group()
            self._open_school(row, school)
            self._open_group(row, group, group_key)
        elif group_key != self.group:
            self._close_group()
            self._open_group(row, group, group_key)
        else:
            spelling, first_row = self.school_groups[group_key]
            if spelling != group:
                self.log.add("group-name-case", row, first_row=first_row)
        return True

    def _open_school(self, row: int, school: str) -> None:
        if self.school is not None:
            self.finished_schools.setdefault(self.school, self.school_first_row)
        first_row = self.finished_schools.get(school)
        if first_row is not None:
            self.log.add("school-not-contiguous", row, first_row=first_row)

        self.school = school
        self.school_first_row = row
        self.school_groups = {}
        self.report.schools += 1
        for rule, details in _school_problems(school, self.allowed_schools):
            self.log.add(rule, row, **details)

    def _open_group(self, row: int, group: str, group_key: tuple[str, str]) -> None:
        seen = self.school_groups.get(group_key)
        if seen is not None:
            spelling, first_row = seen
            self.log.add("group-not-contiguous", row, first_row=first_row)
            if spelling != group:
                self.log.add("group-name-case", row, first_row=first_row)
        else:
            self.school_groups[group_key] = (group, row)

        if not _GROUP_NAME_SHAPE.fullmatch(group):
            self.log.add("group-name-characters", row)
        if len(group) > MAX_GROUP_NAME_LENGTH:
            self.log.add("group-name-too-long", row)
        year = group_key[1]
        problems = self.year_problems.get(year)
        if problems is None:
            problems = _year_problems(year, self.years)
            if len(self.year_problems) < 64:  # a few distinct years in any real file
                self.year_problems[year] = problems
        for rule, details in problems:
            self.log.add(rule, row, **details)

        self.group = group_key
        self.group_first_row = row
        self.subject_seen = None
        self.group_subject = None
        self.first_blank_subject = None
        self.ssids = {}
        self.logins = {}
        self.repeated_students = 0
        self.untracked_students = 0
        self.report.groups += 1

    def _close_group(self) -> None:
        if self.group is None:
            return

        students = len(self.ssids) + self.repeated_students + self.untracked_students
        if students > MAX_STUDENTS_PER_GROUP:
            self.log.add("group-too-large", self.group_first_row, students=students)
        if self.group_subject is not None and self.first_blank_subject is not None:
            self.log.add("group-subject-not-repeated", self.first_blank_subject)
        self.group = None

    # --- columns ---------------------------------------------------------------------------

    def _check_subject(self, row: int, subject: str) -> None:
        """A subject that differs from the previous row's; blank never conflicts."""
        code = subject.strip().lower()
        if not code:
            if self.first_blank_subject is None:
                self.first_blank_subject = row
            return

        if code not in self.subjects:
            self.log.add("subject-code-unknown", row)
        elif self.group_subject is None:
            self.group_subject = code
        elif code != self.group_subject:
            self.log.add("group-subject-changes", row, first_row=self.group_first_row)

    def _check_student(self, row: int, ssid: str, login: str, first: int) -> None:
        """A row whose SSID is repeated in the group, or not shaped like a California SSID."""
        login_new = bool(login) and self.logins.setdefault(login, row) == row
        if first != row:
            self.repeated_students += 1
            rule = "duplicate-student" if login_new else "duplicate-row"
            self.log.add(rule, row, first_row=first)
        else:
            for rule, details in _ssid_problems(ssid, self.ssid_checked):
                self.log.add(rule, row, **details)
        if login_new:
            self._check_login(row, login)

    def _check_login(self, row: int, login: str) -> None:
        """A login seen for the first time in this group."""
        if len(login) > MAX_LOGIN_LENGTH:
            self.log.add("login-too-long", row)
        elif self.login_checked and not _EMAIL.fullmatch(login):
            self.log.add("login-format", row)


def _school_problems(school: str, allowed: frozenset[str] | None) -> list[tuple[str, dict]]:
    problems: list[tuple[str, dict]] = []
    column = {"column": "school_natural_id"}
    if len(school) > MAX_SCHOOL_ID_LENGTH:
        problems.append(("school-id-too-long", {}))
    elif _SCIENTIFIC.fullmatch(school):
        problems.append(("excel-scientific-notation", column))
    elif _DECIMAL_SUFFIX.fullmatch(school):
        problems.append(("excel-decimal-suffix", column))
    elif _DIGITS.fullmatch(school) and len(school) == CDS_DIGITS - 1:
        problems.append(("excel-leading-zeros", {**column, "digits": 13, "expected": 14}))
    elif not (_DIGITS.fullmatch(school) and len(school) == CDS_DIGITS):
        problems.append(("school-id-not-cds", {}))
    if allowed is not None and school not in allowed:
        problems.append(("school-not-allowed", {}))
    return problems


def _year_problems(year: str, accepted: set[str]) -> list[tuple[str, dict]]:
    if _DECIMAL_SUFFIX.fullmatch(year):
        return [("excel-decimal-suffix", {"column": "school_year"})]
    if not _YEAR_SHAPE.fullmatch(year):
        return [("school-year-format", {})]
    if year not in accepted:
        return [("school-year-not-accepted", {})]
    return []


def _ssid_problems(ssid: str, checked: bool) -> list[tuple[str, dict]]:
    column = {"column": "student_ssid"}
    if len(ssid) > MAX_SSID_LENGTH:
        return [("ssid-too-long", {})]
    if _SCIENTIFIC.fullmatch(ssid):
        return [("excel-scientific-notation", column)]
    if _DECIMAL_SUFFIX.fullmatch(ssid):
        return [("excel-decimal-suffix", column)]
    if not checked or (len(ssid) == SSID_DIGITS and _DIGITS.fullmatch(ssid)):
        return []
    hint = ""
    if _DIGITS.fullmatch(ssid) and len(ssid) < SSID_DIGITS:
        hint = f" (it has {len(ssid)} digits: if it went through Excel, a leading zero was lost)"
    return [("ssid-format", {"hint": hint})]


# --- small helpers -----------------------------------------------------------------------------


def _first_break(data: bytes) -> int:
    """The end of the first line of ``data``, line break included."""
    positions = [p for p in (data.find(b"\r"), data.find(b"\n")) if p >= 0]
    if not positions:
        return len(data)
    end = min(positions) + 1
    if data[end - 1] == 0x0D and data[end : end + 1] == b"\n":
        end += 1
    return end


def _chain_first(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _line_start(text: str, position: int) -> int:
    return max(text.rfind("\n", 0, position), text.rfind("\r", 0, position)) + 1


def _split_keep_ends(text: str) -> list[str]:
    parts = _LINE_BREAK.split(text)
    lines = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    if len(parts) % 2 and parts[-1]:
        lines.append(parts[-1])
    return lines


def sniff_file_type(start: bytes) -> str | None:
    """The whole-file rule broken by bytes that are not a UTF-8 CSV at all, from the first KB."""
    head = start[:4096]
    if not head or head == _BOM:
        return "empty-file"
    if head.startswith(_SPREADSHEET_MAGIC):
        return "spreadsheet-file"
    if head.startswith(_UTF16_BOMS) or _looks_like_utf16(head):
        return "utf16"
    if head.startswith(_BINARY_MAGIC) or _control_share(head) > 0.05:
        return "binary-file"
    return None


def _looks_like_utf16(head: bytes) -> bool:
    """UTF-16 text without a byte order mark: every other byte is NUL."""
    sample = head[:512]
    if len(sample) < 8:
        return False
    even, odd = sample[0::2], sample[1::2]
    return odd.count(0) > 0.8 * len(odd) or even.count(0) > 0.8 * len(even)


def _control_share(head: bytes) -> float:
    if not head:
        return 0.0
    controls = sum(1 for byte in head if byte < 0x20 and byte not in b"\r\n\t")  # NUL too
    return controls / len(head)


def _other_delimiter(text: str) -> str:
    if "," in text:
        return ""
    for delimiter, name in (("\t", "tabs"), (";", "semicolons"), ("|", "vertical bars")):
        if delimiter in text:
            return name
    return ""


def _header_hint(header: list[str]) -> str:
    """Says what is wrong with a header, without quoting it."""
    if not header or not "".join(header).strip():
        return "The first line is blank: delete it."
    if ",".join(header).lstrip().startswith(_DOCUMENT_STARTS):
        return (
            "The file holds a web page, JSON or XML, not a roster: a failed export or download "
            "often saves its error page under the file's name. Export the roster again."
        )
    if header[0].startswith("\ufeff"):
        return (
            "It starts with a second byte order mark (an invisible character): save the file "
            "again as CSV UTF-8."
        )
    if len(header) == 1:
        return "It has one column: separate the names with commas."
    for position, (found, expected) in enumerate(zip(header, HEADER, strict=False), start=1):
        if found.lower() != expected:
            return f"Column {position} should be {expected}."
    return f"It has {len(header)} columns instead of six."


# Column positions in a roster record, for readers of files that have passed validation.
GROUP, SCHOOL, YEAR, SUBJECT, SSID, LOGIN = range(len(HEADER))


def roster_records(stream: BinaryIO) -> Iterator[list[str]]:
    """The CSV records (the header first) of a roster that has passed validation, one at a time,
    for other single-pass readers such as the safety hold's member counts."""
    return csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), strict=True)
