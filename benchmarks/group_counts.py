"""Time and peak memory of counting a roster's groups for the safety hold.

    .venv/bin/python -m benchmarks.group_counts [ROWS] [ROWS_PER_GROUP]

Writes a valid roster of ROWS data rows (default 1,000,000) in groups of ROWS_PER_GROUP
students (default 25) to a temporary file, then counts it once, as the validator does. Memory
grows with the number of groups, not with the number of rows.
"""

import resource
import sys
import tempfile
import time
from pathlib import Path

from cers_groups.roster import HEADER
from cers_groups.safety_hold import count_groups


def write_roster(path: Path, rows: int, per_group: int) -> None:
    with path.open("w") as roster:
        roster.write(",".join(HEADER) + "\n")
        for row in range(rows):
            group = row // per_group
            roster.write(f"Gr{group}_Math,99123450111111,2027,Math,{9_000_000_000 + row},\n")


def main(argv: list[str]) -> None:
    rows = int(argv[0]) if argv else 1_000_000
    per_group = int(argv[1]) if len(argv) > 1 else 25
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "roster.csv"
        write_roster(path, rows, per_group)
        before = _peak_megabytes()
        started = time.perf_counter()
        with path.open("rb") as stream:
            counts = count_groups(stream)
        seconds = time.perf_counter() - started
    print(
        f"{rows:,} rows, {len(counts.groups):,} groups: {seconds:.2f} s, peak memory"
        f" {_peak_megabytes():.0f} MB ({before:.0f} MB before counting)"
    )


def _peak_megabytes() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main(sys.argv[1:])
