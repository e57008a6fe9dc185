"""The sizing script's rosters: the figures in infra/sizing.py are only as good as they are."""

import importlib.util
from pathlib import Path

from cers_groups.roster import validate_roster

SCRIPT = Path(__file__).parents[2] / "scripts" / "measure_validator.py"


def _script():
    spec = importlib.util.spec_from_file_location("measure_validator", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_validator_writes_a_valid_roster_of_the_asked_size(tmp_path):
    path = tmp_path / "roster.csv"
    _script().write_roster(path, 1_234, broken=False)

    with path.open("rb") as stream:
        report = validate_roster(stream)

    assert report.rows == 1_234
    assert report.valid, [(problem.rule, problem.row) for problem in report.problems]


def test_measure_validator_broken_roster_breaks_two_rules_on_every_row(tmp_path):
    path = tmp_path / "roster.csv"
    _script().write_roster(path, 500, broken=True)

    with path.open("rb") as stream:
        report = validate_roster(stream)

    assert report.rows == 500
    assert {p.rule for p in report.problems} == {"school-year-format", "subject-code-unknown"}


def test_measure_validator_reads_gnu_time_figures():
    script = _script()
    report = (
        "\tMaximum resident set size (kbytes): 71680\n"
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:04.13\n"
    )

    assert script._time_field(report, "Maximum resident set size") == "71680"
    assert script._elapsed(script._time_field(report, "Elapsed (wall clock) time")) == 4.13
