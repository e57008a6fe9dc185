"""Large valid rosters for the local stack: a district's whole export, of any row count.

Deterministic: the same row count gives the same bytes. Shaped like a big district's export:
schools of the sample district (CDS ids ``9912345`` + a 7-digit school code) with 30 to 50
groups each, every group one teacher row and about 30 student rows (20 to 40), 10-digit SSIDs,
e-mail logins, school year 2027, CRLF. It needs no normalizing and passes every rule of the
local tenants template, so the file the validator checks is the file the uploader sends.
"""

import random
from pathlib import Path

from cers_groups.roster_rules import HEADER_LINE

DISTRICT_CDS = "9912345"
SEED = 2027
YEAR = "2027"
FEWEST_STUDENTS = 20
MOST_STUDENTS = 40


def school_ids(rows: int) -> frozenset[str]:
    """Every school id ``write_big_roster(path, rows)`` writes (for the stand-in's list)."""
    schools = set()
    for school, _, _ in _groups(rows):
        schools.add(school)
    return frozenset(schools)


def write_big_roster(path: Path, rows: int) -> int:
    """Writes ``rows`` data rows (and the header) to ``path``; the file's size in bytes."""
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(HEADER_LINE + "\r\n")
        for school, group, students in _groups(rows):
            out.writelines(_group_lines(school, group, students))
    return path.stat().st_size


def _groups(rows: int):
    """(school, group number, student SSIDs) for every group, in file order."""
    rng = random.Random(SEED)  # noqa: S311 - repeatable made-up data
    left = rows
    school_number = 0
    while left > 0:
        school_number += 1
        school = f"{DISTRICT_CDS}{school_number:07d}"
        for group in range(rng.randrange(30, 51)):
            students = min(rng.randrange(FEWEST_STUDENTS, MOST_STUDENTS + 1), left - 1)
            if left - 1 - students <= FEWEST_STUDENTS:
                students = left - 1  # the last group takes the few rows left over
            first_ssid = 1_000_000_000 + school_number * 100_000 + group * 100
            yield school, group, [first_ssid + n for n in range(students)]
            left -= students + 1
            if left <= 0:
                return


def _group_lines(school: str, group: int, students: list[int]) -> list[str]:
    subject = "Math" if group % 2 else "ELA"
    name = f"Gr{3 + group % 6}_{subject}_Rm{group:03d}"
    teacher = f"t{school[-4:]}{group:03d}@sampleusd.example.org"
    lines = [f"{name},{school},{YEAR},{subject},,{teacher}\r\n"]
    lines += [f"{name},{school},{YEAR},{subject},{ssid},\r\n" for ssid in students]
    return lines
