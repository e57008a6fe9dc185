"""A deterministic synthetic roster: the same bytes for the same row count, every time.

Shaped like a large district's export: schools of 20 to 60 groups, each group a teacher row and
15 to 35 student rows, CDS-shaped school ids, 10-digit SSIDs, e-mail logins, CRLF. Valid under
the rules with school years 2027 and 2028.
"""

import random
from pathlib import Path

HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login"
SEED = 2027


def write_roster(path: Path, rows: int) -> None:
    rng = random.Random(SEED)  # noqa: S311 - repeatable made-up data
    written = 0
    school_count = 0
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(HEADER + "\r\n")
        while written < rows:
            school_count += 1
            school = f"{1 + school_count % 58:02d}{rng.randrange(10**12):012d}"
            for number in range(rng.randrange(20, 61)):
                lines = _group_lines(rng, school, number, school_count)
                lines = lines[: rows - written]
                out.writelines(lines)
                written += len(lines)
                if written >= rows:
                    break


def _group_lines(rng: random.Random, school: str, number: int, school_count: int) -> list[str]:
    subject = rng.choice(("Math", "ELA"))
    group = f"Gr{rng.randrange(3, 9)}_{subject}_Rm{number}"
    teacher = f"t{rng.randrange(10**6):06d}@district{school_count % 7}.example.org"
    lines = [f"{group},{school},2027,{subject},,{teacher}\r\n"]
    ssids = rng.sample(range(10**9, 10**10), rng.randrange(15, 36))
    lines += [f"{group},{school},2027,{subject},{ssid},\r\n" for ssid in ssids]
    return lines
