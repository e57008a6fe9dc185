"""Rosters built for tests: groups with a chosen number of students, valid under every rule."""

from pathlib import Path

from cers_groups.roster import HEADER

SCHOOL_A, SCHOOL_B = "99123450111111", "99123450122222"
YEAR = "2027"


def roster_text(groups: dict[tuple[str, str], int], year: str = YEAR) -> str:
    """One teacher row and ``students`` student rows per (school, group), schools together.

    Student SSIDs are made from the group's position and the student's, so the same group
    keeps the same students from one roster to the next.
    """
    lines = [",".join(HEADER)]
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
