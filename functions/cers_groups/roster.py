"""Roster rules: what a CERS student-group CSV must look like before it is sent.

Pure domain code: no AWS calls. Reads the file as a stream of bytes.
"""

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


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule. ``row`` is the N-th data record after the header; None for the file."""

    rule: str
    row: int | None
    message: str


@dataclass(slots=True)
class RosterReport:
    rows: int = 0
    size: int = 0
    digest: str = ""
    schools: int = 0
    groups: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_roster(stream: BinaryIO) -> RosterReport:
    raise NotImplementedError
