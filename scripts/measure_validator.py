"""How long the validator takes on a 1,000,000-row roster, and how much memory it needs.

The figures choose the validator function's memory and timeout (see infra/sizing.py). Each
roster is validated in a fresh Python process that first imports the validator handler, as
Lambda does, so the peak resident memory includes boto3, Powertools and pydantic.

    .venv/bin/python scripts/measure_validator.py [--rows N] [--keep DIR]

Peak memory is what GNU time (`/usr/bin/time -v`, Debian package `time`) prints as "Maximum
resident set size" for the child.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login\r\n"
SCHOOLS = 25
STUDENTS_PER_GROUP = 200
SUBJECTS = ("Math", "ELA", "All", "")
# GNU time: its -v report has the peak resident set size of the process it ran.
TIME = "/usr/bin/time"

# The child: import what the Lambda imports, then validate the file from disk.
CHILD = """
import sys, time
import cers_groups.handlers.validator  # noqa: F401  (the Lambda's import cost and memory)
from cers_groups.roster import validate_roster
started = time.perf_counter()
with open(sys.argv[1], "rb") as stream:
    report = validate_roster(stream)
seconds = time.perf_counter() - started
print(f"{report.rows} {len(report.problems)} {seconds:.2f}")
"""


def write_roster(path: Path, rows: int, *, broken: bool) -> None:
    """A deterministic roster: groups of 200 students, schools contiguous, groups contiguous.

    ``broken`` gives every row a two-digit school year and an unknown subject, so every row
    breaks two rules (the report keeps the first few of each and counts the rest).
    """
    groups_per_school = max(1, rows // STUDENTS_PER_GROUP // SCHOOLS + 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        written = 0
        for school_index in range(SCHOOLS):
            school = f"991234501{school_index:05d}"
            for group_index in range(groups_per_school):
                group = f"Gr{group_index % 12 + 1}_Sec{group_index:05d}"
                subject = SUBJECTS[group_index % len(SUBJECTS)]
                for student in range(STUDENTS_PER_GROUP):
                    if written == rows:
                        return
                    ssid = f"{(written * 7919) % 10**10:010d}"
                    login = f"teacher{group_index}@district.example.org" if student == 0 else ""
                    year, code = ("27", "Science") if broken else ("2027", subject)
                    out.write(f"{group},{school},{year},{code},{ssid},{login}\r\n")
                    written += 1


def measure(path: Path) -> dict[str, float]:
    """Validate ``path`` in a child process under `/usr/bin/time -v`; its figures."""
    command = [TIME, "-v", sys.executable, "-c", CHILD, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603 - fixed argv
    rows, problems, seconds = result.stdout.split()
    return {
        "rows": int(rows),
        "problems": int(problems),
        "validate_seconds": float(seconds),
        "process_seconds": _elapsed(_time_field(result.stderr, "Elapsed (wall clock) time")),
        "peak_rss_mb": int(_time_field(result.stderr, "Maximum resident set size")) / 1024,
    }


def _time_field(report: str, name: str) -> str:
    for line in report.splitlines():
        label, _, value = line.strip().rpartition(": ")
        if label.startswith(name):
            return value.strip()
    raise RuntimeError(f"/usr/bin/time printed no {name!r}:\n{report}")


def _elapsed(value: str) -> float:
    """`h:mm:ss` or `m:ss.ss` as seconds."""
    seconds = 0.0
    for part in value.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def baseline() -> float:
    """Peak memory of a process that only imports the handler."""
    command = [TIME, "-v", sys.executable, "-c", "import cers_groups.handlers.validator"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603 - fixed argv
    return int(_time_field(result.stderr, "Maximum resident set size")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the rosters here and keep them")
    args = parser.parse_args()

    print(f"handler import only: peak {baseline():.0f} MB")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name, broken in (("every-row-broken", True), ("valid", False)):
            path = folder / f"roster-{args.rows}-{name}.csv"
            write_roster(path, args.rows, broken=broken)
            figures = measure(path)
            size_mb = path.stat().st_size / 1e6
            print(
                f"{name}: {figures['rows']} rows, {size_mb:.0f} MB, "
                f"{figures['problems']} problems kept, "
                f"validate {figures['validate_seconds']:.2f} s, "
                f"process {figures['process_seconds']:.2f} s, "
                f"peak {figures['peak_rss_mb']:.0f} MB"
            )


if __name__ == "__main__":
    main()
