"""The ``cers-groups validate`` command: exit codes, plain output and JSON shape."""

import errno
import hashlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cers_groups import cli

SAMPLES = Path(__file__).resolve().parents[2] / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
INVALID = SAMPLES / "invalid_roster.csv"

runner = CliRunner()


def _run(*args: str | Path):
    return runner.invoke(cli.app, [str(arg) for arg in args])


def test_validate_valid_file_exits_0() -> None:
    result = _run("validate", VALID)

    assert result.exit_code == 0
    assert result.stdout == f"{VALID}: valid (100 rows, 3 schools, 9 groups)\n"


def test_validate_invalid_file_exits_1_and_lists_problems() -> None:
    result = _run("validate", INVALID)

    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith(f"{INVALID}: INVALID, 6 problems")
    assert lines[1].startswith("row 4  group-subject-changes  subject_code differs")
    assert lines[-1].startswith("row 14  school-not-contiguous  ")


def test_validate_file_level_problem_shows_dash_for_row(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    result = _run("validate", empty)

    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].startswith("row -  empty-file  ")


def test_validate_valid_and_invalid_files_exit_1() -> None:
    result = _run("validate", VALID, INVALID)

    assert result.exit_code == 1
    assert f"{VALID}: valid" in result.stdout


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    result = _run("validate", VALID, tmp_path / "missing.csv")

    assert result.exit_code == 2


def test_validate_directory_exits_2(tmp_path: Path) -> None:
    assert _run("validate", tmp_path).exit_code == 2


def test_validate_without_files_exits_2() -> None:
    assert _run("validate").exit_code == 2


def test_validate_read_error_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(_stream: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(cli, "validate_roster", fail)

    result = _run("validate", VALID)

    assert result.exit_code == 2
    assert "cannot be read (Input/output error)" in result.stderr


def test_validate_json_single_file_is_one_object() -> None:
    result = _run("validate", "--json", INVALID)

    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert document == {
        "file": str(INVALID),
        "valid": False,
        "rows": 16,
        "digest": hashlib.md5(INVALID.read_bytes()).hexdigest().upper(),
        "errors": document["errors"],
        "warnings": [],
    }
    assert document["errors"][0] == {
        "rule": "group-subject-changes",
        "row": 4,
        "message": document["errors"][0]["message"],
    }
    assert all(set(error) == {"rule", "row", "message"} for error in document["errors"])


def test_validate_json_file_level_problem_has_null_row(tmp_path: Path) -> None:
    header_only = tmp_path / "header_only.csv"
    header_only.write_bytes(VALID.read_bytes().split(b"\r\n")[0] + b"\r\n")

    document = json.loads(_run("validate", "--json", header_only).stdout)

    assert [(error["rule"], error["row"]) for error in document["errors"]] == [
        ("no-data-rows", None)
    ]


def test_validate_json_several_files_is_a_list() -> None:
    result = _run("validate", "--json", VALID, INVALID)

    documents = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [(document["file"], document["valid"]) for document in documents] == [
        (str(VALID), True),
        (str(INVALID), False),
    ]
    assert documents[0]["errors"] == []


def test_main_runs_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["cers-groups", "validate", str(VALID)])

    with pytest.raises(SystemExit) as exit_info:
        cli.main()

    assert exit_info.value.code == 0
