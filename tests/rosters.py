"""Building blocks for roster tests: rows, files and the settings the samples are written for."""

import io
from pathlib import Path

from cers_groups.roster import RosterReport, validate_roster
from cers_groups.roster_rules import HEADER_LINE
from cers_groups.tenants import RuleSettings

SAMPLES = Path(__file__).resolve().parents[1] / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
INVALID = SAMPLES / "invalid_roster.csv"
SCHOOL_A = "99123450111111"
SCHOOL_B = "99123450122222"
# The years the local tenants template and the samples use.
SETTINGS = RuleSettings(school_years=(2027, 2028))


def row(
    group: str = "Gr5_Math_Rm12",
    school: str = SCHOOL_A,
    year: str = "2027",
    subject: str = "Math",
    ssid: str = "1234567890",
    login: str = "",
) -> str:
    return ",".join((group, school, year, subject, ssid, login))


def roster(*rows: str, header: str = HEADER_LINE, newline: str = "\r\n") -> bytes:
    return "".join(line + newline for line in (header, *rows)).encode()


def students(count: int, **columns: str) -> list[str]:
    return [row(ssid=f"{1_000_000_000 + n}", **columns) for n in range(count)]


def check(data: bytes, settings: RuleSettings = SETTINGS, **options) -> RosterReport:
    return validate_roster(io.BytesIO(data), settings, **options)


def found(data: bytes, settings: RuleSettings = SETTINGS, **options) -> list[tuple]:
    """(rule, row) of every problem, in report order."""
    return [(problem.rule, problem.row) for problem in check(data, settings, **options).problems]


YEAR = "2027"


def roster_text(groups: dict[tuple[str, str], int], year: str = YEAR) -> str:
    """One teacher row and ``students`` student rows per (school, group), schools together.

    Student SSIDs are made from the group's position and the student's, so the same group
    keeps the same students from one roster to the next.
    """
    lines = [HEADER_LINE]
    for position, ((school, group), students) in enumerate(sorted(groups.items())):
        lines.append(f"{group},{school},{year},Math,,teacher{position}@sampleusd.example.org")
        for student in range(students):
            lines.append(
                f"{group},{school},{year},Math,{9_000_000_000 + position * 1000 + student},"
            )
    return "\n".join(lines) + "\n"


def write_roster(path: Path, groups: dict[tuple[str, str], int], year: str = YEAR) -> Path:
    path.write_text(roster_text(groups, year))
    return path
