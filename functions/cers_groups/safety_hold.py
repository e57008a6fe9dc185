"""Safety hold: a roster that would shrink or empty many groups waits for a person.

A broken SIS export (a filter gone wrong, a half-written file) still passes every roster rule,
and CERS would apply it: each group in the file gets exactly the students listed for it. So each
new file's per-group student counts are compared with the district's last processed upload, and
the file is held back when

- a group would lose more than ``group_drop`` of its students, or all of them, or
- the groups of the last upload would lose more than ``total_drop`` of their students in total.

Only groups in the new file can change: CERS leaves every other group as it is, so a group of
the last upload that is missing from the new file is not a drop.

Pure domain code: no AWS calls. Counting reads the file once, as a stream; it keeps one entry
per group and, for the group being read, its distinct students and users (at most a few
hundred in a valid file).

Group names and school ids are row contents: they go into the documents kept in the bucket,
never into the alert text, which gives counts only.
"""

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from cers_groups.alerts import SUBJECT_LIMIT, Alert
from cers_groups.events import file_name
from cers_groups.roster import GROUP, HEADER, LOGIN, SCHOOL, SSID, YEAR, roster_records
from cers_groups.tenants import HoldSettings

_READ_CHUNK = 1 << 16
# (school, group name, school year), matched the way CERS matches groups: the name ignoring
# case, every value without surrounding spaces.
GroupKey = tuple[str, str, str]


@dataclass(slots=True)
class GroupCount:
    """One group of a roster: its names as first written and its distinct members."""

    school: str
    group: str
    school_year: str
    students: int = 0
    users: int = 0

    @property
    def key(self) -> GroupKey:
        return group_key(self.school, self.group, self.school_year)


def group_key(school: str, group: str, school_year: str) -> GroupKey:
    return school.strip(), group.strip().lower(), school_year.strip()


@dataclass
class GroupCounts:
    """The groups of one roster, in file order, with their member counts."""

    groups: dict[GroupKey, GroupCount] = field(default_factory=dict)

    @property
    def students(self) -> int:
        return sum(count.students for count in self.groups.values())

    def add(self, count: GroupCount, key: GroupKey | None = None) -> None:
        """Adds a finished group; a group seen twice (not in a valid file) adds up."""
        key = key or count.key
        known = self.groups.get(key)
        if known is None:
            self.groups[key] = count
            return
        known.students += count.students
        known.users += count.users

    def to_document(self) -> dict[str, Any]:
        return {"groups": list(self._entries()), "totals": self._totals()}

    def json_lines(self, **fields: Any) -> Iterator[str]:
        """``to_document()`` with ``fields`` added, as JSON text, one group a line: a roster's
        counts are written out without a second copy of them in memory."""
        head = json.dumps({**fields, "totals": self._totals()})
        yield head[:-1] + ', "groups": ['
        separator = "\n"
        for entry in self._entries():
            yield separator + json.dumps(entry)
            separator = ",\n"
        yield "\n]}\n"

    def _entries(self) -> Iterator[dict[str, Any]]:
        for count in self.groups.values():
            yield {
                "school": count.school,
                "group": count.group,
                "school_year": count.school_year,
                "students": count.students,
                "users": count.users,
            }

    def _totals(self) -> dict[str, int]:
        return {"groups": len(self.groups), "students": self.students}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> "GroupCounts":
        counts = cls()
        for entry in document["groups"]:
            counts.add(
                GroupCount(
                    school=entry["school"],
                    group=entry["group"],
                    school_year=entry["school_year"],
                    students=int(entry["students"]),
                    users=int(entry["users"]),
                )
            )
        return counts


def count_groups(stream: BinaryIO) -> GroupCounts:
    """Counts the distinct students and users of every group of a validated roster, in one
    pass over ``stream``. Rows without the six fields (blank lines) are skipped."""
    counts = GroupCounts()
    records = roster_records(stream)
    next(records, None)  # the header
    for key, count in _group_blocks(records):
        counts.add(count, key)
    return counts


def _group_blocks(records: Iterator[list[str]]) -> Iterator[tuple[GroupKey, GroupCount]]:
    """One GroupCount, with its key, per contiguous run of rows of the same group.

    A row with the same three key values as the row before costs one compare; school ids and
    years repeat across groups, so one copy of each is kept.
    """
    raw: tuple[str, str, str] | None = None
    key: GroupKey | None = None
    current: GroupCount | None = None
    students: set[str] = set()
    users: set[str] = set()
    for record in records:
        if len(record) != len(HEADER):
            continue
        if (record[GROUP], record[SCHOOL], record[YEAR]) != raw:
            raw = (record[GROUP], record[SCHOOL], record[YEAR])
            row_key = group_key(record[SCHOOL], record[GROUP], record[YEAR])
            if row_key != key:
                if current is not None:
                    yield key, _finished(current, students, users)
                key = row_key = (sys.intern(row_key[0]), row_key[1], sys.intern(row_key[2]))
                current = GroupCount(row_key[0], record[GROUP].strip(), row_key[2])
                students, users = set(), set()
        if ssid := record[SSID].strip():
            students.add(ssid)
        if login := record[LOGIN].strip():
            users.add(login)
    if current is not None:
        yield key, _finished(current, students, users)


def _finished(count: GroupCount, students: set[str], users: set[str]) -> GroupCount:
    count.students, count.users = len(students), len(users)
    return count


@dataclass(frozen=True, slots=True)
class GroupChange:
    """A group of the last upload that the new file lists with another number of students."""

    school: str
    group: str
    school_year: str
    before: int
    after: int

    @property
    def emptied(self) -> bool:
        return self.before > 0 and self.after == 0

    def shrinks_more_than(self, share: float) -> bool:
        return self.before > 0 and (self.before - self.after) / self.before > share


@dataclass(frozen=True)
class HoldCheck:
    """How a new roster compares with the last processed one, and whether it must wait."""

    settings: HoldSettings
    changes: tuple[GroupChange, ...]
    groups_compared: int
    new_groups: int
    groups_not_in_file: int
    members_before: int
    members_after: int

    def flag(self, change: GroupChange) -> str | None:
        """Why a change holds the file: ``empty``, ``shrinks`` (past the threshold), or None."""
        if change.emptied:
            return "empty"
        if change.shrinks_more_than(self.settings.group_drop):
            return "shrinks"
        return None

    @property
    def emptied(self) -> int:
        return sum(1 for change in self.changes if self.flag(change) == "empty")

    @property
    def shrunk(self) -> int:
        """Groups that lose more than the threshold without becoming empty."""
        return sum(1 for change in self.changes if self.flag(change) == "shrinks")

    @property
    def total_drop(self) -> float:
        if self.members_before == 0:
            return 0.0
        return (self.members_before - self.members_after) / self.members_before

    @property
    def held(self) -> bool:
        return self.emptied + self.shrunk > 0 or self.total_drop > self.settings.total_drop

    def summary(self) -> dict[str, Any]:
        """The counts an alert and the submission item carry (numbers only, DynamoDB-ready)."""
        return {
            "groups_compared": self.groups_compared,
            "groups_emptied": self.emptied,
            "groups_shrunk": self.shrunk,
            "new_groups": self.new_groups,
            "groups_not_in_file": self.groups_not_in_file,
            "members_before": self.members_before,
            "members_after": self.members_after,
            "group_drop": Decimal(str(self.settings.group_drop)),
            "total_drop": Decimal(str(self.settings.total_drop)),
        }

    def to_document(self) -> dict[str, Any]:
        """The per-group differences, flagged groups first (kept in the bucket only)."""
        # Flagged groups first, then the biggest losses.
        ordered = sorted(
            self.changes,
            key=lambda change: (self.flag(change) is None, change.after - change.before),
        )
        summary = {
            name: float(value) if isinstance(value, Decimal) else value
            for name, value in self.summary().items()
        }
        return {
            "held": self.held,
            "summary": summary,
            "groups": [
                {
                    "school": change.school,
                    "group": change.group,
                    "school_year": change.school_year,
                    "students_before": change.before,
                    "students_after": change.after,
                    "flag": self.flag(change),
                }
                for change in ordered
            ],
        }


def compare(
    previous: GroupCounts | Iterable[tuple[GroupKey, int]],
    current: GroupCounts,
    settings: HoldSettings,
) -> HoldCheck:
    """Compares a new roster with the last processed one, as CERS would apply it.

    ``previous`` is the last upload's counts, or its (group key, students) pairs as
    ``read_group_students`` streams them from its groups document: only the new roster's
    counts are held in memory. The total covers the groups of the last upload after the new
    file is applied: those in the file take their new counts, the others keep theirs. New
    groups only add members, so they are left out of both sides.
    """
    if isinstance(previous, GroupCounts):
        previous = ((key, count.students) for key, count in previous.groups.items())
    changes = []
    listed = compared = members_before = members_after = 0
    for key, before in previous:
        listed += 1
        members_before += before
        after = current.groups.get(key)
        members_after += before if after is None else after.students
        if after is None:
            continue
        compared += 1
        if after.students != before:
            changes.append(
                GroupChange(after.school, after.group, after.school_year, before, after.students)
            )
    return HoldCheck(
        settings=settings,
        changes=tuple(changes),
        groups_compared=compared,
        new_groups=len(current.groups) - compared,
        groups_not_in_file=listed - compared,
        members_before=members_before,
        members_after=members_after,
    )


def read_group_students(stream: BinaryIO) -> Iterator[tuple[GroupKey, int]]:
    """(group key, students) of every group of a groups document (``json_lines``), read one
    line at a time. A document written whole, with its groups over many lines (as they were
    kept before), is read whole."""
    lines = _lines(stream)
    head = next(lines, "")
    if not head.rstrip().endswith('"groups": ['):
        document = json.loads("\n".join([head, *lines]))
        for count in GroupCounts.from_document(document).groups.values():
            yield count.key, count.students
        return
    for line in lines:
        line = line.strip().removesuffix(",")
        if line.startswith("{"):
            entry = json.loads(line)
            key = group_key(entry["school"], entry["group"], entry["school_year"])
            yield key, int(entry["students"])


def _lines(stream: BinaryIO) -> Iterator[str]:
    pending = b""
    while chunk := stream.read(_READ_CHUNK):
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line.decode("utf-8")
    if pending:
        yield pending.decode("utf-8")


HOLD_HEADLINE = "is on hold: it would remove many students from groups"


def compose_hold_alert(submission: dict[str, Any], bucket: str) -> Alert:
    """The e-mail for a held submission, from the summary recorded on its item: counts only."""
    hold = submission["hold"]
    name = file_name(submission["key"])
    prefix = f"CERS groups [{submission['district']}] "
    room = SUBJECT_LIMIT - len(prefix) - len(" on hold") - 1
    subject = f"{prefix}{_shorten(name, room)} on hold"
    sections = [
        f"The roster file s3://{bucket}/{submission['key']} {HOLD_HEADLINE}. It passed every"
        " roster rule but was not sent to CERS, because it looks like a broken export rather"
        " than a real change of rosters.",
        "Compared with the district's last processed upload"
        f" (submission {hold['baseline']}):\n"
        + "\n".join(f"  - {line}" for line in hold_lines(hold)),
        "Groups of the last upload that this file does not list are not counted: CERS leaves"
        " them as they are.",
        "What to do: look at the per-group differences in"
        f" s3://{bucket}/{hold['diff_key']} (or run `cers-groups report"
        f" {submission['submission_id']}`). If the change is real, an operator sends the file"
        f" with `cers-groups release {submission['submission_id']}`. If the export is broken,"
        " fix it and drop a new file; an operator closes this one with"
        f" `cers-groups reject {submission['submission_id']}`.",
        f"Submission: {submission['submission_id']}",
    ]
    return Alert(subject=_ascii(subject), body="\n\n".join(sections))


def hold_lines(hold: dict[str, Any]) -> Iterable[str]:
    """What the hold found, in words, from its summary."""
    emptied, shrunk = int(hold["groups_emptied"]), int(hold["groups_shrunk"])
    before, after = int(hold["members_before"]), int(hold["members_after"])
    share = _percent(hold["group_drop"])
    lines = []
    if emptied:
        lines.append(f"{_groups(emptied)} would become empty")
    if shrunk:
        other = "other " if emptied else ""
        lines.append(
            f"{shrunk:,} {other}{_plural(shrunk)} would lose more than {share} of their students"
        )
    change = f" ({_signed_percent(before, after)})" if before else ""
    lines.append(
        f"students in the last upload's groups: {before:,} -> {after:,}{change};"
        f" a drop of more than {_percent(hold['total_drop'])} is held"
    )
    lines.append(
        f"{int(hold['groups_compared']):,} groups in both files, {int(hold['new_groups']):,} new,"
        f" {int(hold['groups_not_in_file']):,} not in this file"
    )
    return lines


def _groups(count: int) -> str:
    return f"{count:,} {_plural(count)}"


def _plural(count: int) -> str:
    return "group" if count == 1 else "groups"


def _percent(share: Decimal | float) -> str:
    return f"{float(share) * 100:g}%"


def _signed_percent(before: int, after: int) -> str:
    return f"{(after - before) / before * 100:+.0f}%"


def _shorten(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 3, 0)] + "..."


def _ascii(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
