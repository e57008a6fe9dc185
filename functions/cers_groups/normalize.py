"""Normalization: the fixes a roster can get without anyone guessing, each one logged.

Shared by ``cers-groups fix`` and the pipeline. What it does:

- strips a UTF-8 byte order mark, and transcodes a Windows-1252 file to UTF-8 (with a note);
- writes the header exactly as CERS documents it, and CRLF after every line;
- trims every value, removes quotes that only wrap a value, and drops blank lines and rows
  whose fields are all blank;
- drops a row that lists only members its group already lists (a repeated student and/or
  teacher);
- repeats a group's subject on its rows that have none (when the group has one subject);
- regroups rows so that every school's rows, and every group's rows within its school, are
  together, in order of first appearance and otherwise in file order.

It never invents or changes a value: a row it cannot read is written back as it was, and what
it cannot fix is left for the validator to report. Normalizing its own output changes nothing.

Memory stays flat: the first pass spills rows to a temporary file in runs (consecutive rows of
one group), remembering only each run's place and each school's and group's first appearance;
the second pass writes the runs in order. Each output row's row number in the original file is
kept in a temporary row map, so problems found in the output can be reported against the
district's own file.
"""

import csv
import hashlib
import io
import re
import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from cers_groups.roster import MEMBER_TRACKING_LIMIT, sniff_file_type
from cers_groups.roster_rules import HEADER, HEADER_LINE, MAX_LINE_CHARS, RULES

CRLF = "\r\n"
FIRST_ROWS_KEPT = 10
_RUN_FLUSH_RECORDS = 4096
_READ_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"
_NEEDS_QUOTES = re.compile(r'[",\r\n]')
_REGULAR, _IRREGULAR, _UNREADABLE = "r", "i", "u"
_LAST = 1 << 62  # sorts after every school and group

# Change kind -> what was done, for people. Rows are rows of the original file.
CHANGES: dict[str, str] = {
    "bom-removed": "Removed the UTF-8 byte order mark at the start of the file.",
    "transcoded": "Converted the file from Windows-1252 (Excel's plain CSV) to UTF-8; the "
    "characters are the same.",
    "header-rewritten": f"Rewrote the header as {HEADER_LINE}.",
    "line-endings-changed": "Changed the line ending to CRLF.",
    "quotes-removed": "Removed double quotes that only wrapped values.",
    "values-trimmed": "Removed spaces before or after values.",
    "blank-lines-dropped": "Dropped a blank line (after this row).",
    "empty-rows-dropped": "Dropped a row whose fields were all blank.",
    "duplicate-rows-dropped": "Dropped a row listing only a student and/or teacher already "
    "listed in its group.",
    "subject-repeated": "Filled in the group's subject_code where the row had none.",
    "rows-regrouped": "Moved the row next to the other rows of its school and group.",
}


class _Refused(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class _NotUtf8(Exception):
    """The bytes are not UTF-8: start again as Windows-1252."""


@dataclass(slots=True)
class ChangeSummary:
    kind: str
    count: int = 0
    first_rows: list[int | None] = field(default_factory=list)

    @property
    def message(self) -> str:
        return CHANGES[self.kind]


class ChangeLog:
    """Every change, in the order made; a per-kind summary in memory, the rest on disk."""

    def __init__(self) -> None:
        self.summary: dict[str, ChangeSummary] = {}
        # Lives as long as the result; NormalizeResult.close() closes it.
        self._file = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
        self.count = 0

    def add(self, kind: str, row: int | None) -> None:
        summary = self.summary.get(kind)
        if summary is None:
            summary = self.summary[kind] = ChangeSummary(kind)
        summary.count += 1
        if len(summary.first_rows) < FIRST_ROWS_KEPT:
            summary.first_rows.append(row)
        self._file.write(f"{kind}\t{'' if row is None else row}\n".encode())
        self.count += 1

    def __iter__(self) -> Iterator[tuple[str, int | None]]:
        self._file.seek(0)
        for line in self._file:
            kind, row = line.decode().rstrip("\n").split("\t")
            yield kind, int(row) if row else None
        self._file.seek(0, 2)

    @property
    def counts(self) -> dict[str, int]:
        return {kind: summary.count for kind, summary in self.summary.items()}

    def close(self) -> None:
        self._file.close()


class RowMap:
    """Output row N -> the row it came from in the original file; 4 bytes a row, on disk."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._pending = array("I")
        self.rows = 0

    def append(self, row: int) -> None:
        self._pending.append(row)
        self.rows += 1
        if len(self._pending) >= _RUN_FLUSH_RECORDS:
            self._flush()

    def __call__(self, row: int) -> int:
        """The original row of output row ``row`` (1-based)."""
        if not 1 <= row <= self.rows:
            return row
        self._flush()
        self._file.seek((row - 1) * 4)
        return array("I", self._file.read(4))[0]

    def _flush(self) -> None:
        if self._pending:
            self._file.seek(0, 2)
            self._pending.tofile(self._file)
            self._pending = array("I")

    def close(self) -> None:
        self._file.close()


@dataclass
class NormalizeResult:
    """What normalizing did. When ``refused`` is a rule id, nothing was written."""

    changes: ChangeLog
    row_map: RowMap
    refused: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    size: int = 0
    digest: str = ""

    @property
    def changed(self) -> bool:
        return self.refused is None and self.changes.count > 0

    @property
    def refusal(self) -> str:
        """Why the file was left alone, for people."""
        if self.refused is None:
            return ""
        return "The file could not be normalized: " + RULES[self.refused].message.format(
            hint="", delimiter="another character", how="", where=""
        )

    def close(self) -> None:
        self.changes.close()
        self.row_map.close()


def normalize_roster(
    open_source: Callable[[], BinaryIO],
    out: BinaryIO,
    *,
    progress: Callable[[int], None] | None = None,
) -> NormalizeResult:
    """Normalizes the roster ``open_source()`` returns, writing the result to ``out``.

    ``open_source`` is called once, or twice when the file turns out not to be UTF-8 (it is
    then read again as Windows-1252). ``progress`` gets a count that goes from 0 to twice the
    file's size over the two passes. Nothing is written to ``out`` when the result is refused.
    """
    with tempfile.TemporaryFile() as spill_file:
        for encoding in ("utf-8", "cp1252"):
            result = NormalizeResult(ChangeLog(), RowMap())
            spill = _Spill(spill_file)
            try:
                with open_source() as source:
                    reader = _FirstPass(source, encoding, result, spill, progress)
                    reader.run()
            except _NotUtf8:
                result.close()
                continue
            except _Refused as refusal:
                result.refused = refusal.rule
                return result
            _SecondPass(result, spill, reader, progress).write(out)
            return result

    result.refused = "not-utf8"
    return result


class _CountingReader(io.RawIOBase):
    """A raw stream over anything with ``read(n)``, counting the bytes read."""

    def __init__(self, stream: BinaryIO, progress: Callable[[int], None] | None) -> None:
        super().__init__()
        self._stream = stream
        self._progress = progress
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:
        data = self._stream.read(len(buffer)) or b""
        buffer[: len(data)] = data
        self.size += len(data)
        if self._progress:
            self._progress(self.size)
        return len(data)


class _LineTap:
    """Gives csv.reader physical lines, remembering them until the record is taken."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._readline = text.readline
        self.lines: list[str] = []

    def __iter__(self) -> "_LineTap":
        return self

    def __next__(self) -> str:
        line = self._readline(MAX_LINE_CHARS + 1)
        if not line:
            raise StopIteration
        if len(line) > MAX_LINE_CHARS:
            raise _Refused("line-too-long")
        self.lines.append(line)
        return line

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


class _Spill:
    """Records on disk in runs; a run is a stretch of consecutive rows of one group."""

    def __init__(self, file: BinaryIO) -> None:
        file.seek(0)
        file.truncate()
        self.file = file
        # [school order, group order, run number, start offset, end offset, moved]
        self.runs: list[list] = []
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._pending = 0

    def start_run(self, school_order: int, group_order: int, moved: bool) -> None:
        self.flush()
        offset = self.file.tell()
        self.runs.append([school_order, group_order, len(self.runs), offset, offset, moved])

    def add(self, row: int, kind: str, fields: list[str]) -> None:
        if not self.runs:
            self.start_run(-1, -1, False)
        self._writer.writerow([row, kind, *fields])
        self._pending += 1
        if self._pending >= _RUN_FLUSH_RECORDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.file.write(self._buffer.getvalue().encode("utf-8", "surrogatepass"))
            self._buffer.seek(0)
            self._buffer.truncate()
            self._pending = 0
            self.runs[-1][4] = self.file.tell()

    def records(self, run: list) -> Iterator[list[str]]:
        start, end = run[3], run[4]
        self.file.seek(start)

        def lines() -> Iterator[str]:
            while self.file.tell() < end:
                yield self.file.readline().decode("utf-8", "surrogatepass")

        yield from csv.reader(lines())


class _FirstPass:
    """Reads the source once: header, records, changes, and runs spilled to disk."""

    def __init__(self, source, encoding: str, result, spill: _Spill, progress) -> None:
        self.raw = _CountingReader(source, progress)
        self.encoding = encoding
        self.result = result
        self.changes: ChangeLog = result.changes
        self.spill = spill
        self.row = 0
        self.schools: dict[str, int] = {}
        # (school, group name in lower case, year) -> [group order, first subject, conflict]
        self.groups: dict[tuple[str, str, str], list] = {}
        self.group_meta: list[list] = []
        self.school: str | None = None
        self.group_key: tuple[str, str, str] | None = None
        self.in_unreadable_run = False
        self.unreadable_waiting = array("I")
        self.last_orders = (-1, -1)

    def run(self) -> None:
        buffered = io.BufferedReader(self.raw, _READ_CHUNK)
        start = buffered.peek(4096)[:4096]
        rule = sniff_file_type(start)
        if rule:
            raise _Refused(rule)
        if start.startswith(_BOM):
            buffered.read(len(_BOM))
            self.changes.add("bom-removed", None)
        if self.encoding != "utf-8":
            self.changes.add("transcoded", None)

        text = io.TextIOWrapper(buffered, encoding=self.encoding, errors="strict", newline="")
        tap = _LineTap(text)
        try:
            self._read_header(tap)
            self._read_records(tap)
        except UnicodeDecodeError as error:
            if self.encoding == "utf-8":
                raise _NotUtf8 from error
            raise _Refused("not-utf8") from error
        self.spill.flush()
        self.result.rows_in = self.row
        self.size = self.raw.size

    def _read_header(self, tap: _LineTap) -> None:
        line = next(tap, "")
        tap.take()
        body = line.rstrip("\r\n")
        try:
            names = next(csv.reader([body], strict=True, skipinitialspace=True), [])
        except csv.Error as error:
            raise _Refused("header-mismatch") from error
        if tuple(name.strip().lower() for name in names) != HEADER:
            other = "," not in body and ("\t" in body or ";" in body)
            raise _Refused("delimiter-not-comma" if other else "header-mismatch")
        if body != HEADER_LINE:
            self.changes.add("header-rewritten", None)
        if line[len(body) :] != CRLF:
            self.changes.add("line-endings-changed", None)

    def _read_records(self, tap: _LineTap) -> None:
        reader = csv.reader(tap, strict=True)
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error:
                record = None
            self._read_record(record, tap.take())

    def _read_record(self, record: list[str] | None, lines: list[str]) -> None:
        if record == []:
            self.changes.add("blank-lines-dropped", self.row or None)
            return

        self.row += 1
        if lines and not lines[-1].endswith(CRLF):
            self.changes.add("line-endings-changed", self.row)
        if record is None:
            self._keep_unreadable("".join(lines))
            return

        for row in self.unreadable_waiting:  # rows now moved below this one
            self.changes.add("rows-regrouped", row)
        del self.unreadable_waiting[:]

        fields = [value.strip() for value in record]
        if fields != record:
            self.changes.add("values-trimmed", self.row)
        if not any(fields):
            self.changes.add("empty-rows-dropped", self.row)
            return
        if '"' in "".join(lines) and not _NEEDS_QUOTES.search("".join(fields)):
            self.changes.add("quotes-removed", self.row)

        if len(fields) != len(HEADER):
            if self.in_unreadable_run:  # stays with the group it follows
                self.spill.start_run(*self.last_orders, False)
                self.in_unreadable_run = False
            self.spill.add(self.row, _IRREGULAR, fields)
            return
        self._place(fields)
        self.spill.add(self.row, _REGULAR, fields)

    def _keep_unreadable(self, raw: str) -> None:
        """Quotes not even CSV can read: the row is kept exactly as it was, at the end.

        An unclosed quote would swallow whatever follows it, so such rows go after all the
        others, in file order, where normalizing the output again reads them the same way.
        """
        if not self.in_unreadable_run:
            self.spill.start_run(_LAST, _LAST, False)
            self.in_unreadable_run = True
        self.spill.add(self.row, _UNREADABLE, [raw[: len(raw.rstrip("\r\n"))]])
        self.unreadable_waiting.append(self.row)

    def _place(self, fields: list[str]) -> None:
        """Starts a new run when the row's group differs from the row before."""
        group, school, year, subject = fields[0], fields[1], fields[2], fields[3]
        key = (school, group.lower(), year)
        if key != self.group_key or self.in_unreadable_run:
            moved = key != self.group_key and school != self.school and school in self.schools
            school_order = self.schools.setdefault(school, len(self.schools))
            meta = self.groups.get(key)
            if meta is None:
                meta = self.groups[key] = [len(self.group_meta), None, False]
                self.group_meta.append(meta)
            elif key != self.group_key:
                moved = True
            self.spill.start_run(school_order, meta[0], moved)
            self.last_orders = (school_order, meta[0])
            self.school, self.group_key = school, key
            self.in_unreadable_run = False

        meta = self.groups[key]
        if subject:
            if meta[1] is None:
                meta[1] = subject
            elif meta[1].lower() != subject.lower():
                meta[2] = True


class _SecondPass:
    """Writes the header and the runs in school and group order, with the group fixes."""

    def __init__(self, result, spill: _Spill, first: _FirstPass, progress) -> None:
        self.result = result
        self.changes: ChangeLog = result.changes
        self.spill = spill
        self.group_meta = first.group_meta
        self.size_in = first.size
        self.progress = progress
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator=CRLF)

    def write(self, out: BinaryIO) -> None:
        self._emit(out, HEADER_LINE + CRLF)
        group = None
        ssids: set[str] = set()
        logins: set[str] = set()
        total = self.spill.file.seek(0, 2) or 1
        for run in sorted(self.spill.runs):
            if (run[0], run[1]) != group:
                group, ssids, logins = (run[0], run[1]), set(), set()
            meta = self.group_meta[run[1]] if 0 <= run[1] < _LAST else None
            for record in self.spill.records(run):
                line = self._line(record, run[5], meta, ssids, logins)
                if line is not None:
                    self._emit(out, line)
                    self.result.row_map.append(int(record[0]))
            if self.progress:
                self.progress(self.size_in + self.size_in * run[4] // total)

        self.result.row_map._flush()
        self.result.rows_out = self.result.row_map.rows
        self.result.size = self.size
        self.result.digest = self.md5.hexdigest().upper()

    def _line(self, record, moved, meta, ssids: set[str], logins: set[str]) -> str | None:
        row, kind, fields = int(record[0]), record[1], record[2:]
        if moved:
            self.changes.add("rows-regrouped", row)
        if kind == _UNREADABLE:
            return fields[0] + CRLF
        if kind == _REGULAR:
            if self._is_repeat(fields, ssids, logins):
                self.changes.add("duplicate-rows-dropped", row)
                return None
            if not fields[3] and meta is not None and meta[1] and not meta[2]:
                fields[3] = meta[1]
                self.changes.add("subject-repeated", row)
        return self._serialize(fields)

    @staticmethod
    def _is_repeat(fields: list[str], ssids: set[str], logins: set[str]) -> bool:
        """True for a row that adds no student and no teacher its group does not have."""
        ssid, login = fields[4], fields[5]
        if not ssid and not login:
            return False
        new_student = bool(ssid) and ssid not in ssids
        new_teacher = bool(login) and login not in logins
        if not (new_student or new_teacher):
            return True
        if new_student and len(ssids) < MEMBER_TRACKING_LIMIT:
            ssids.add(ssid)
        if new_teacher and len(logins) < MEMBER_TRACKING_LIMIT:
            logins.add(login)
        return False

    def _serialize(self, fields: list[str]) -> str:
        if not _NEEDS_QUOTES.search("".join(fields)):
            return ",".join(fields) + CRLF
        self.writer.writerow(fields)
        line = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return line

    def _emit(self, out: BinaryIO, line: str) -> None:
        data = line.encode("utf-8")
        self.md5.update(data)
        self.size += len(data)
        out.write(data)
