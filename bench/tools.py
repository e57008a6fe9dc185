"""One benchmark tool on one file, in its own process: ``python tools.py TOOL FILE``.

Prints one JSON line: rows seen, whether the file passed, and the wall-clock and CPU seconds
the work took (imports excluded). The parent reads the process's peak memory from the system.

Every tool but csv.reader checks the same core rules, column by column: the six columns present
and in order, group_name letters/digits/_/- up to 100 characters, school_natural_id up to 40
characters, school_year four digits and one of 2027/2028, subject_code blank/All/Math/ELA in any
case, student_ssid blank or 10 digits, group_user_login blank or an e-mail address up to 255
characters. Ours also checks everything else (contiguity, duplicates, 200 per group, characters,
line endings...), which the general-purpose tools cannot express.
"""

import csv
import json
import sys
import time

GROUP = r"[A-Za-z0-9_-]{1,100}"
SCHOOL = r".{1,40}"
YEAR = r"(2027|2028)"
SUBJECT = r"(?i:all|math|ela)"
SSID = r"[0-9]{10}"
LOGIN = r"[^@\s]{1,200}@[^@\s]+\.[^@\s]+"


def csv_reader(path: str) -> tuple[int, bool]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    return rows, True


def cers_groups(path: str) -> tuple[int, bool]:
    from cers_groups.roster import validate_roster
    from cers_groups.tenants import RuleSettings

    settings = RuleSettings(school_years=(2027, 2028))
    started = _clocks()
    with open(path, "rb") as stream:
        report = validate_roster(stream, settings)
    _mark(started)
    _broken.update(report.rule_counts)
    return report.rows, report.valid


def frictionless(path: str) -> tuple[int, bool]:
    from frictionless import Checklist, Resource, Schema, system

    fields = [
        ("group_name", GROUP, True),
        ("school_natural_id", SCHOOL, True),
        ("school_year", YEAR, True),
        ("subject_code", SUBJECT, False),
        ("student_ssid", SSID, False),
        ("group_user_login", LOGIN, False),
    ]
    schema = Schema.from_descriptor(
        {
            "fields": [
                {
                    "name": name,
                    "type": "string",
                    "constraints": {"required": required, "pattern": pattern},
                }
                for name, pattern, required in fields
            ]
        }
    )
    started = _clocks()
    with system.use_context(trusted=True):  # the roster's path is absolute
        report = Resource(path, schema=schema).validate(checklist=Checklist(), limit_errors=10**9)
    _mark(started)
    if report.flatten(["type"]) and report.flatten(["type"])[0] == ["resource-error"]:
        raise SystemExit(f"frictionless could not read the file: {report.flatten(['note'])}")
    return report.tasks[0].stats["rows"], report.valid


def pandera(path: str) -> tuple[int, bool]:
    import pandas as pd
    import pandera.pandas as pa

    def column(pattern: str, required: bool) -> pa.Column:
        full = f"(?:{pattern})\\Z" if required else f"(?:{pattern})?\\Z"
        check = pa.Check.str_matches(full)
        return pa.Column(str, checks=[check], nullable=False)

    schema = pa.DataFrameSchema(
        {
            "group_name": column(GROUP, True),
            "school_natural_id": column(SCHOOL, True),
            "school_year": column(YEAR, True),
            "subject_code": column(SUBJECT, False),
            "student_ssid": column(SSID, False),
            "group_user_login": column(LOGIN, False),
        },
        ordered=True,
        strict=True,
    )
    started = _clocks()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    try:
        schema.validate(frame, lazy=True)
        valid = True
    except pa.errors.SchemaErrors:
        valid = False
    _mark(started)
    return len(frame), valid


TOOLS = {
    "csv.reader": csv_reader,
    "cers-groups": cers_groups,
    "frictionless": frictionless,
    "pandera": pandera,
}
_started: list[tuple[float, float]] = []
_broken: dict[str, int] = {}


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _mark(started: tuple[float, float]) -> None:
    _started.append(started)


def main(tool: str, path: str) -> None:
    started = _clocks()
    rows, valid = TOOLS[tool](path)
    wall, cpu = _clocks()
    # Tools that import a library time from after the import.
    begun_wall, begun_cpu = _started[0] if _started else started
    result = {
        "tool": tool,
        "rows": rows,
        "valid": valid,
        "seconds": wall - begun_wall,
        "cpu_seconds": cpu - begun_cpu,
        "broken": _broken,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
