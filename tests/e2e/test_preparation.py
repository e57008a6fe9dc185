"""Normalizing, validating and splitting in the pipeline, end to end on the local stack."""

import hashlib
import json
from pathlib import Path

import boto3
import pytest

from local_stack.stack import TENANTS_TEMPLATE, local_stack
from tests.rosters import INVALID, VALID


def _tenants(tmp_path: Path, **rules) -> Path:
    document = json.loads(TENANTS_TEMPLATE.read_text())
    document["districts"][0]["rules"].update(rules)
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(document))
    return path


def _object(stack, key: str, version_id: str | None = None) -> bytes:
    request = {"Bucket": stack.resources.bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    return boto3.client("s3").get_object(**request)["Body"].read()


def _report(stack, submission: dict) -> dict:
    return json.loads(_object(stack, submission["report_key"]))


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest().upper()


def _messy_valid_roster(tmp_path: Path) -> Path:
    """The valid sample as a careless export writes it: BOM, LF, spaces, a blank line."""
    lines = VALID.read_text().splitlines()
    lines[5] = lines[5].replace(",2027,", ", 2027 ,")
    messy = tmp_path / "messy_roster.csv"
    messy.write_bytes(b"\xef\xbb\xbf" + "\n".join([*lines[:10], "", *lines[10:]]).encode())
    return messy


def test_pipeline_sends_the_normalized_copy_and_keeps_the_original(tmp_path):
    messy = _messy_valid_roster(tmp_path)
    with local_stack() as stack:
        key = stack.drop(messy)

        stack.run()

        [submission] = stack.submissions()
        assert submission["status"] == "ACCEPTED"
        sid = submission["submission_id"]
        assert submission["upload_key"] == f"normalized/{sid}/messy_roster.csv"
        normalized = _object(stack, submission["upload_key"], submission["upload_version_id"])
        assert normalized == VALID.read_bytes()
        assert _object(stack, key) == messy.read_bytes()
        assert submission["digest"] == _md5(normalized)
        [post] = stack.standin.received
        assert (post.digest, post.batch) == (submission["digest"], f"{sid}-messy_roster.csv")
        assert submission["normalization"]["changes"] == {
            "bom-removed": 1,
            "line-endings-changed": 101,
            "values-trimmed": 1,
            "blank-lines-dropped": 1,
        }
        report = _report(stack, submission)
        assert report["validated"] == "normalized"
        assert report["valid"] is True
        assert report["normalization"]["key"] == submission["upload_key"]
        assert {"change": "values-trimmed", "row": 5} in report["change_log"]
        assert stack.alert_emails() == []


def test_pipeline_with_normalize_off_sends_the_dropped_bytes(tmp_path):
    lf_roster = tmp_path / "lf_roster.csv"
    lf_roster.write_bytes(VALID.read_bytes().replace(b"\r\n", b"\n"))
    with local_stack(tenants_template=_tenants(tmp_path, normalize=False)) as stack:
        stack.drop(lf_roster)

        stack.run()

        [submission] = stack.submissions()
        assert submission["status"] == "ACCEPTED"
        assert "upload_key" not in submission
        assert submission["digest"] == _md5(lf_roster.read_bytes())
        assert stack.standin.received[0].digest == submission["digest"]
        assert _report(stack, submission)["validated"] == "original"


def test_pipeline_reports_problems_at_the_rows_of_the_dropped_file():
    with local_stack() as stack:
        stack.drop(INVALID)

        stack.run()

        [submission] = stack.submissions()
        assert submission["status"] == "INVALID"
        assert submission["normalization"]["changes"] == {"rows-regrouped": 3}
        assert submission["rule_counts"] == {
            "group-subject-changes": 1,
            "group-name-characters": 1,
            "subject-code-unknown": 1,
            "school-year-format": 1,
            "field-count": 1,
        }
        year = next(p for p in submission["problems"] if p["rule"] == "school-year-format")
        assert (year["row"], year["normalized_row"]) == (8, 11)
        report = _report(stack, submission)
        assert report["validated"] == "normalized"
        assert [(e["rule"], e["row"]) for e in report["errors"]][3] == ("school-year-format", 8)
        assert stack.standin.received == []


def test_pipeline_splits_a_big_file_at_school_boundaries_and_sends_parts_in_order(tmp_path):
    # CERS processes each part at once, so the next part is not held behind an ACCEPTED one.
    template = _tenants(tmp_path, row_limit=70)
    with local_stack(tenants_template=template, processing_delay=0.0) as stack:
        stack.drop(VALID)

        stack.run()

        parent, *parts = stack.submissions()
        sid = parent["submission_id"]
        assert parent["status"] == "SPLIT"
        assert parent["part_ids"] == [f"{sid}-part-001", f"{sid}-part-002"]
        assert [(p["submission_id"], p["status"]) for p in parts] == [
            (f"{sid}-part-001", "PROCESSED"),
            (f"{sid}-part-002", "PROCESSED"),
        ]
        assert [(p["part"], p["parts"], p["rows"]) for p in parts] == [(1, 2, 67), (2, 2, 33)]
        assert all(p["parent_submission_id"] == sid for p in parts) is True
        assert [p["upload_key"] for p in parts] == [
            f"parts/{sid}/part-001.csv",
            f"parts/{sid}/part-002.csv",
        ]
        received = stack.standin.received
        assert [post.batch for post in received] == [
            f"{sid}-part-001-valid_roster-part-001-of-002.csv",
            f"{sid}-part-002-valid_roster-part-002-of-002.csv",
        ]
        assert [post.digest for post in received] == [p["digest"] for p in parts]
        first = _object(stack, parts[0]["upload_key"], parts[0]["upload_version_id"])
        assert first.count(b"\r\n") == 68
        assert _report(stack, parent)["parts"][1]["rows"] == 33
        assert stack.alert_emails() == []


@pytest.mark.parametrize("row_limit", [30])
def test_pipeline_school_bigger_than_the_row_limit_is_invalid(tmp_path, row_limit):
    with local_stack(tenants_template=_tenants(tmp_path, row_limit=row_limit)) as stack:
        stack.drop(VALID)

        stack.run()

        [submission] = stack.submissions()
        assert submission["status"] == "INVALID"
        assert submission["rule_counts"] == {"too-many-rows": 1, "school-over-row-limit": 1}
        assert stack.standin.received == []
        assert len(stack.alert_emails()) == 1


def test_pipeline_file_name_over_250_characters_is_invalid():
    with local_stack() as stack:
        stack.drop(VALID, name="r" * 247 + ".csv")

        stack.run()

        [submission] = stack.submissions()
        assert submission["status"] == "INVALID"
        assert submission["rule_counts"] == {"file-name-too-long": 1}
