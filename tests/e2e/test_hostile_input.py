"""Hostile exports and object keys end to end: every one ends recorded, with one plain alert.

Through the real handlers, moto's server and the CERS stand-in, as in test_pipeline.
"""

import hashlib
import io
import json
import zipfile
from pathlib import Path
from urllib.parse import unquote

import boto3
import pytest
import requests

from cers_groups.handlers import validator
from cers_groups.observability import logger
from cers_groups.resources import NORMALIZED_PREFIX
from local_stack.lambda_runner import LambdaContext, sqs_event
from local_stack.stack import TENANTS_TEMPLATE, local_stack

SAMPLES = Path(__file__).parents[2] / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
ROWS = VALID.read_bytes().decode().splitlines()
SSIDS = {line.split(",")[4] for line in ROWS[1:]} - {""}
LOGINS = {line.split(",")[5] for line in ROWS[1:]} - {""}


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


def _workbook() -> bytes:
    """A real zip, as Excel writes an .xlsx, with the roster's values inside."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/worksheets/sheet1.xml", "<sheetData>" + "".join(ROWS) + "</sheetData>")
    return out.getvalue()


def _with_row(line: str) -> bytes:
    return ("\r\n".join([*ROWS, line]) + "\r\n").encode()


def _distinct_roster(number: int) -> bytes:
    """The sample roster with one more student in its last group: bytes of its own."""
    group, school, year, subject = ROWS[-1].split(",")[:4]
    return _with_row(f"{group},{school},{year},{subject},{5_550_000_000 + number},")


# file name -> (bytes, rule, words the alert must say)
HOSTILE = {
    "roster.xlsx.csv": (_workbook(), "spreadsheet-file", "Excel workbook"),
    "unicode text.csv": (
        b"\xff\xfe" + VALID.read_text().encode("utf-16-le"),
        "utf16",
        "UTF-16",
    ),
    "nul bytes.csv": (
        VALID.read_bytes().replace(b"2993088378", b"29930\x0088378"),
        "nul-byte",
        "NUL character",
    ),
    "one long line.csv": (
        _with_row("Gr4_Math_Rm7," + "9" * (1 << 20) + ",2027,Math,,"),
        "line-too-long",
        "longer than 65,536 characters",
    ),
    "error page.csv": (
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
        b"<body><h1>SIS export failed for 2993088378</h1></body></html>\n",
        "header-mismatch",
        "web page, JSON or XML, not a roster",
    ),
    "nothing.csv": (b"", "empty-file", "The file is empty"),
}


def _by_name(stack) -> dict[str, dict]:
    return {item["key"].rsplit("/", 1)[-1]: item for item in stack.submissions()}


def _email_for(emails: list[dict], name: str) -> dict:
    [email] = [email for email in emails if name in email["subject"]]
    return email


def test_hostile_exports_end_invalid_with_one_plain_alert_each(stack):
    for name, (data, _, _) in HOSTILE.items():
        stack.put(f"{stack.folder}{name}", data)

    stack.run()

    submissions = _by_name(stack)
    emails = stack.alert_emails()
    assert sorted(submissions) == sorted(HOSTILE)
    assert len(emails) == len(HOSTILE)
    for name, (_, rule, words) in HOSTILE.items():
        submission = submissions[name]
        assert submission["status"] == "INVALID", name
        assert rule in submission["rule_counts"], name
        body = _email_for(emails, name)["body"]
        assert f"[{rule}]" in body and words in body, name
        assert "Traceback" not in body
        assert not any(value in body for value in SSIDS | LOGINS), name
        assert "Bad Gateway" not in body and "9" * 100 not in body
    assert stack.standin.received == []


def test_hostile_object_keys_end_recorded_and_reach_cers_intact():
    names = {
        "spaces and + plus.csv": "PROCESSED",
        "100% done, #2 (final).csv": "PROCESSED",
        "école ñandú 中文 roster.csv": "PROCESSED",
        ("中" * 80) + ".csv": "PROCESSED",  # 80 characters, 240 bytes: a long batch name
        ("n" * 996) + ".csv": "INVALID",  # a 1,020-byte key: the name is too long for CERS
        ("é" * 498) + ".csv": "INVALID",  # 1,000 bytes of UTF-8, 502 characters
    }
    with local_stack(processing_delay=0.0) as stack:
        _drop_and_check_keys(stack, names)


def _drop_and_check_keys(stack, names: dict[str, str]) -> None:
    for number, name in enumerate(names):
        # An upper-case header: each roster is normalized, so a copy is stored under its name.
        roster = _distinct_roster(number).replace(b"group_name", b"GROUP_NAME", 1)
        stack.put(f"{stack.folder}{name}", roster)
    stack.put(f"{stack.folder}empty.csv", b"")

    stack.run()

    submissions = _by_name(stack)
    assert {name: item["status"] for name, item in submissions.items()} == {
        **names,
        "empty.csv": "INVALID",
    }
    batches = {received.batch for received in stack.standin.received}
    for name, status in names.items():
        submission = submissions[name]
        assert submission["key"] == f"{stack.folder}{name}"
        if status == "PROCESSED":
            assert f"{submission['submission_id']}-{name}"[:250] in batches
        else:
            assert "file-name-too-long" in submission["rule_counts"]
    assert "empty-file" in submissions["empty.csv"]["rule_counts"]

    emails = stack.alert_emails()
    assert len(emails) == 3  # the two names too long for CERS and the empty file
    for email in emails:
        assert len(email["subject"]) <= 100 and email["subject"].isascii()
        assert "\n" not in email["subject"]
    # moto takes longer keys; S3 refuses any over 1,024 bytes (normalized copies included).
    stored = boto3.client("s3").list_objects_v2(Bucket=stack.resources.bucket)["Contents"]
    assert len([item for item in stored if item["Key"].startswith(NORMALIZED_PREFIX)]) == len(names)
    assert max(len(item["Key"].encode()) for item in stored) <= 1024


def test_hostile_folder_markers_are_skipped_with_a_log_line(stack, monkeypatch):
    logged = io.StringIO()
    for handler in logger.handlers:  # the shared logger keeps the stream it was created with
        monkeypatch.setattr(handler, "stream", logged)
    stack.put(f"{stack.folder}2026/", b"")
    stack.put(f"{stack.folder}spring term/é 中/", b"")

    stack.run()

    assert stack.submissions() == []
    assert stack.alert_emails() == []
    skipped = [
        json.loads(line)
        for line in logged.getvalue().splitlines()
        if '"Folder marker skipped"' in line
    ]
    assert sorted(line["key"] for line in skipped) == [
        f"{stack.folder}2026/",
        f"{stack.folder}spring term/é 中/",
    ]


# --- the byte limit ---------------------------------------------------------------------------


@pytest.fixture
def small_limit_stack(tmp_path):
    """Districts that refuse files over 1 KB."""
    document = json.loads(TENANTS_TEMPLATE.read_text())
    for district in document["districts"]:
        district["rules"]["max_file_bytes"] = 1024
    template = tmp_path / "tenants.json"
    template.write_text(json.dumps(document))
    with local_stack(tenants_template=template) as running:
        yield running


@pytest.fixture
def recorder(small_limit_stack, tmp_path, monkeypatch):
    """moto's request recorder, on for the test: a function returning every request so far.

    The recorder writes its log to the working directory, and is one per process, so it is
    always stopped again.
    """
    monkeypatch.chdir(tmp_path)
    api = f"{small_limit_stack.endpoint_url}/moto-api/recorder"
    requests.post(f"{api}/start-recording", timeout=10).raise_for_status()
    try:
        yield lambda: [
            json.loads(line)
            for line in requests.get(f"{api}/download-recording", timeout=10).text.splitlines()
            if line
        ]
    finally:
        requests.post(f"{api}/stop-recording", timeout=10)


def _object_requests(requests_made: list[dict], key: str) -> list[str]:
    """The HTTP methods of the requests made for ``key`` (the recorder keeps raw URLs)."""
    methods = []
    for request in requests_made:
        path = unquote(request["url"].split("?", 1)[0]).split("/", 4)[-1]
        if path == key:
            methods.append(request["method"])
    return methods


def test_hostile_file_over_the_byte_limit_is_refused_unread(small_limit_stack, recorder):
    stack = small_limit_stack
    key = stack.drop(VALID, name="big roster.csv")  # 6.6 KB
    # Reading it would now fail: only the S3 event knows the object and its size.
    s3 = boto3.client("s3")
    for version in s3.list_object_versions(Bucket=stack.resources.bucket, Prefix=key)["Versions"]:
        s3.delete_object(Bucket=stack.resources.bucket, Key=key, VersionId=version["VersionId"])

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "INVALID"
    assert submission["rule_counts"] == {"file-over-size-limit": 1}
    assert submission["rows"] == 0 and "digest" not in submission
    [problem] = submission["problems"]
    assert problem["message"].startswith(
        "The file is 6.6 KB; this district's files may be at most 1.0 KB"
    )
    [email] = stack.alert_emails()
    assert "big roster.csv" in email["subject"]
    assert "[file-over-size-limit]" in email["body"] and "Split it" in email["body"]
    assert stack.standin.received == []
    # The drop and the deletion are all that ever touched the object: no GET, no HEAD.
    assert _object_requests(recorder(), key) == ["PUT", "DELETE"]


def test_hostile_file_within_the_byte_limit_is_read_and_validated(small_limit_stack):
    stack = small_limit_stack
    stack.put(f"{stack.folder}small.csv", ("\r\n".join(ROWS[:4]) + "\r\n").encode())

    stack.run()

    [submission] = stack.submissions()
    assert submission["status"] == "ACCEPTED"
    assert stack.alert_emails() == []


def _object_created(sqs, queue: str) -> tuple[dict, dict]:
    """The next S3 notification about a created object (S3's test event is passed over)."""
    for _ in range(20):
        for message in sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", []):
            notification = json.loads(message["Body"])
            if "Records" in notification:
                return message, notification
    raise AssertionError("no object-created notification arrived")


def test_hostile_event_without_a_size_is_measured_with_a_head_request(small_limit_stack, recorder):
    stack = small_limit_stack
    key = stack.drop(VALID, name="no size.csv")
    sqs = boto3.client("sqs")
    queue = stack.resources.validate_queue_url
    message, notification = _object_created(sqs, queue)
    del notification["Records"][0]["s3"]["object"]["size"]
    message["Body"] = json.dumps(notification)
    message["MD5OfBody"] = hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest()
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]

    validator.lambda_handler(
        sqs_event([message], arn["QueueArn"], sqs.meta.region_name),
        LambdaContext(function_name="cers-groups-validator"),
    )

    [submission] = stack.submissions()
    assert submission["status"] == "INVALID"
    assert submission["rule_counts"] == {"file-over-size-limit": 1}
    assert len(stack.alert_emails()) == 1
    assert [m for m in _object_requests(recorder(), key) if m != "PUT"] == ["HEAD"]
