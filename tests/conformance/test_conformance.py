"""Every corpus roster gets exactly its expected report, through the library and the CLI."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cers_groups import cli
from cers_groups.roster import validate_roster
from cers_groups.tenants import RuleSettings
from tests.conformance.make_corpus import INVALID, VALID

HERE = Path(__file__).parent
RULES_FILE = HERE / "rules.json"
CASES = sorted(HERE.glob("*/*.csv"))


def _expected(path: Path) -> dict:
    return json.loads(path.with_suffix(".expected.json").read_text())


def _found(document: dict) -> dict:
    def pairs(items: list[dict]) -> list[dict]:
        return [{"rule": item["rule"], "row": item["row"]} for item in items]

    return {
        "valid": document["valid"],
        "errors": pairs(document["errors"]),
        "warnings": pairs(document["warnings"]),
    }


def test_corpus_files_match_their_definitions() -> None:
    names = {f"{path.parent.name}/{path.stem}" for path in CASES}

    assert names == {f"valid/{n}" for n in VALID} | {f"invalid/{n}" for n in INVALID}
    for folder, cases in (("valid", VALID), ("invalid", INVALID)):
        for name, (data, _, _) in cases.items():
            assert (HERE / folder / f"{name}.csv").read_bytes() == data


@pytest.mark.parametrize("path", CASES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_corpus_roster_gets_its_expected_report(path: Path) -> None:
    settings = RuleSettings.model_validate_json(RULES_FILE.read_text())
    with path.open("rb") as stream:
        report = validate_roster(stream, settings, name=path.name)

    found = {
        "valid": report.valid,
        "errors": [{"rule": p.rule, "row": p.row} for p in report.errors()],
        "warnings": [{"rule": p.rule, "row": p.row} for p in report.warnings()],
    }
    assert found == _expected(path)
    assert report.valid is (path.parent.name == "valid")


def test_corpus_through_the_cli_as_a_vendor_runs_it() -> None:
    args = ["validate", "--json", "--config", str(RULES_FILE), *map(str, CASES)]

    result = CliRunner().invoke(cli.app, args)

    documents = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [_found(document) for document in documents] == [_expected(p) for p in CASES]
