"""The ``cers-groups`` commands: exit codes, plain output, JSON and CSV."""

import csv
import errno
import hashlib
import io
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cers_groups import cli
from tests.rosters import INVALID, VALID, roster, row

RULES_FILE = Path(__file__).resolve().parents[1] / "conformance" / "rules.json"

runner = CliRunner()


def _run(*args: str | Path):
    return runner.invoke(cli.app, [str(arg) for arg in args])


def _validate(*args: str | Path):
    return _run("validate", "--config", RULES_FILE, *args)


def test_validate_valid_file_exits_0() -> None:
    result = _validate(VALID)

    assert result.exit_code == 0
    assert result.stdout == f"{VALID}: valid (100 rows, 3 schools, 9 groups)\n"


def test_validate_invalid_file_exits_1_and_summarises_each_rule() -> None:
    result = _validate(INVALID)

    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[0] == f"{INVALID}: INVALID: 6 errors, 0 warnings (16 rows, 3 schools, 5 groups)"
    assert lines[1] == "  error    group-subject-changes: 1 time, row 4  [CERS server rule]"
    assert lines[2].strip().startswith("subject_code differs from the subject")
    assert (
        "  error    school-not-contiguous: 1 time, row 14  [CERS server rule; California guide]"
        in lines
    )


def test_validate_warnings_only_is_valid_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "warned.csv"
    path.write_bytes(roster(row(login="jgarcia")))

    result = _validate(path)

    assert result.exit_code == 0
    assert result.stdout.startswith(f"{path}: valid: 0 errors, 1 warning")
    assert "warning  login-format: 1 time, row 1  [California guide]" in result.stdout


def test_validate_file_level_problem_says_whole_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    result = _validate(empty)

    assert result.exit_code == 1
    assert (
        result.stdout.splitlines()[1]
        == "  error    empty-file: 1 time, whole file  [CERS server rule]"
    )


def test_validate_valid_and_invalid_files_exit_1() -> None:
    result = _validate(VALID, INVALID)

    assert result.exit_code == 1
    assert f"{VALID}: valid" in result.stdout


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    assert _validate(VALID, tmp_path / "missing.csv").exit_code == 2


def test_validate_directory_exits_2(tmp_path: Path) -> None:
    assert _validate(tmp_path).exit_code == 2


def test_validate_without_files_exits_2() -> None:
    assert _run("validate").exit_code == 2


def test_validate_read_error_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object, **_options: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(cli, "validate_roster", fail)

    result = _validate(VALID)

    assert result.exit_code == 2
    assert "cannot be read (Input/output error)" in result.stderr


def test_validate_json_single_file_is_one_object() -> None:
    result = _validate("--json", INVALID)

    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert {key: document[key] for key in ("file", "valid", "rows", "digest", "warnings")} == {
        "file": str(INVALID),
        "valid": False,
        "rows": 16,
        "digest": hashlib.md5(INVALID.read_bytes(), usedforsecurity=False).hexdigest().upper(),
        "warnings": [],
    }
    assert [(error["rule"], error["row"]) for error in document["errors"]] == [
        ("group-subject-changes", 4),
        ("group-name-characters", 5),
        ("subject-code-unknown", 5),
        ("school-year-format", 8),
        ("field-count", 13),
        ("school-not-contiguous", 14),
    ]
    assert all(set(error) == {"rule", "row", "message"} for error in document["errors"])
    assert document["error_count"] == 6
    assert document["summary"][0] == {
        "rule": "group-subject-changes",
        "severity": "error",
        "sources": ["cers"],
        "source": "CERS server rule",
        "count": 1,
        "first_rows": [4],
        "message": document["errors"][0]["message"],
    }


def test_validate_json_warnings_are_listed_apart(tmp_path: Path) -> None:
    path = tmp_path / "warned.csv"
    path.write_bytes(roster(row(ssid="123")))

    document = json.loads(_validate("--json", path).stdout)

    assert document["valid"] is True
    assert document["errors"] == []
    assert [(item["rule"], item["row"]) for item in document["warnings"]] == [("ssid-format", 1)]


def test_validate_json_file_level_problem_has_null_row(tmp_path: Path) -> None:
    header_only = tmp_path / "header_only.csv"
    header_only.write_bytes(VALID.read_bytes().split(b"\r\n")[0] + b"\r\n")

    document = json.loads(_validate("--json", header_only).stdout)

    assert [(error["rule"], error["row"]) for error in document["errors"]] == [
        ("no-data-rows", None)
    ]


def test_validate_json_several_files_is_a_list() -> None:
    result = _validate("--json", VALID, INVALID)

    documents = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [(document["file"], document["valid"]) for document in documents] == [
        (str(VALID), True),
        (str(INVALID), False),
    ]
    assert documents[0]["errors"] == []


def test_validate_csv_lists_every_problem(tmp_path: Path) -> None:
    out = tmp_path / "problems.csv"

    result = _validate("--csv", out, VALID, INVALID)

    records = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert result.exit_code == 1
    assert [(r["file"], r["row"], r["rule"]) for r in records][:2] == [
        (str(INVALID), "4", "group-subject-changes"),
        (str(INVALID), "5", "group-name-characters"),
    ]
    assert len(records) == 6
    assert records[0]["severity"] == "error"
    assert records[0]["source"] == "CERS server rule"


def test_validate_config_changes_the_rules(tmp_path: Path) -> None:
    config = tmp_path / "rules.json"
    config.write_text('{"school_years": [2030], "ssid_check": "error"}')

    result = _run("validate", "--json", "--config", config, VALID)

    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert {error["rule"] for error in document["errors"]} == {"school-year-not-accepted"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"school_years": "soon"}', "school_years"),
        ('{"ssid_check": "sometimes"}', "ssid_check"),
        ('{"unknown": 1}', "unknown"),
        ("not json", "not valid rule settings"),
    ],
)
def test_validate_broken_config_exits_2(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "rules.json"
    config.write_text(content)

    result = _run("validate", "--config", config, VALID)

    assert result.exit_code == 2
    assert message in result.stderr


def test_main_runs_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "argv", ["cers-groups", "validate", "--config", str(RULES_FILE), str(VALID)]
    )

    with pytest.raises(SystemExit) as exit_info:
        cli.main()

    assert exit_info.value.code == 0


# --- fix ------------------------------------------------------------------------------------


def _messy(tmp_path: Path) -> Path:
    messy = tmp_path / "messy.csv"
    messy.write_bytes(b"\xef\xbb\xbf" + roster(row(school=" 99123450111111"), row(), newline="\n"))
    return messy


def test_fix_writes_the_normalized_file_and_lists_the_changes(tmp_path: Path) -> None:
    out = tmp_path / "fixed.csv"

    result = _run("fix", _messy(tmp_path), "-o", out, "--config", RULES_FILE)

    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert out.read_bytes() == roster(row())
    assert lines[0] == f"{tmp_path / 'messy.csv'}: 6 changes, written to {out}"
    assert lines[1].startswith("  bom-removed: 1 (whole file)  Removed the UTF-8 byte order")
    assert any(line.startswith("  duplicate-rows-dropped: 1 (row 2)  Dropped a") for line in lines)
    assert lines[-1] == f"{out}: valid (1 rows, 1 schools, 1 groups)"
    assert not (tmp_path / ".fixed.csv.partial").exists()


def test_fix_reports_remaining_problems_at_the_rows_of_the_input(tmp_path: Path) -> None:
    out = tmp_path / "fixed.csv"
    changes = tmp_path / "changes.csv"

    result = _run("fix", INVALID, "-o", out, "--config", RULES_FILE, "--changes", changes)

    assert result.exit_code == 1
    assert "  error    school-year-format: 1 time, row 8  [CERS server rule]" in result.stdout
    assert "school-not-contiguous" not in result.stdout
    records = list(csv.DictReader(io.StringIO(changes.read_text(encoding="utf-8"))))
    assert [(r["row"], r["change"]) for r in records] == [
        ("14", "rows-regrouped"),
        ("15", "rows-regrouped"),
        ("16", "rows-regrouped"),
    ]


def test_fix_is_idempotent(tmp_path: Path) -> None:
    once, twice = tmp_path / "once.csv", tmp_path / "twice.csv"
    _run("fix", _messy(tmp_path), "-o", once, "--config", RULES_FILE)

    result = _run("fix", once, "-o", twice, "--config", RULES_FILE)

    assert result.stdout.splitlines()[0] == f"{once}: nothing to change; copied to {twice}"
    assert twice.read_bytes() == once.read_bytes()


def test_fix_refuses_a_file_it_cannot_read_and_writes_nothing(tmp_path: Path) -> None:
    workbook = tmp_path / "roster.csv"
    workbook.write_bytes(b"PK\x03\x04" + bytes(100))
    out = tmp_path / "fixed.csv"

    result = _run("fix", workbook, "-o", out)

    assert result.exit_code == 1
    assert "could not be normalized: This is an Excel workbook" in result.stdout
    assert not out.exists()


# --- split ------------------------------------------------------------------------------------


def test_split_writes_parts_at_school_boundaries(tmp_path: Path) -> None:
    result = _run("split", VALID, "--out-dir", tmp_path, "--rows", "70", "--config", RULES_FILE)

    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[0].startswith(f"{tmp_path / 'valid_roster-part-001.csv'}: 67 rows from row 1,")
    assert lines[1].startswith(f"{tmp_path / 'valid_roster-part-002.csv'}: 33 rows from row 68,")
    rows = [
        line
        for number in (1, 2)
        for line in (tmp_path / f"valid_roster-part-{number:03d}.csv").read_bytes().splitlines()[1:]
    ]
    assert rows == VALID.read_bytes().splitlines()[1:]


def test_split_small_file_writes_nothing(tmp_path: Path) -> None:
    result = _run("split", VALID, "--out-dir", tmp_path / "parts", "--config", RULES_FILE)

    assert result.exit_code == 0
    assert "100 rows fit in one upload; nothing written" in result.stdout
    assert not (tmp_path / "parts").exists()


def test_split_refuses_a_file_with_other_problems(tmp_path: Path) -> None:
    result = _run("split", INVALID, "--out-dir", tmp_path, "--rows", "5", "--config", RULES_FILE)

    assert result.exit_code == 1
    assert "fix the problems above before splitting" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_split_school_bigger_than_a_part_exits_1(tmp_path: Path) -> None:
    result = _run("split", VALID, "--out-dir", tmp_path, "--rows", "30", "--config", RULES_FILE)

    assert result.exit_code == 1
    assert "the school starting at row 1 has 33 rows, more than 30" in result.stdout


def test_progress_bar_reports_bytes_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True)

    with cli.progress_bar(VALID, "Checking") as advance:
        assert advance is not None
        advance(VALID.stat().st_size // 2)
        advance(VALID.stat().st_size)


def test_progress_bar_is_silent_for_small_files_and_pipes() -> None:
    with cli.progress_bar(VALID, "Checking") as advance:
        assert advance is None
