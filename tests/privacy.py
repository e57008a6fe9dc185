"""Privacy scan of everything the test session makes the product write.

A pytest plugin (registered in tests/conftest.py). For the whole session it records:

- inputs: the 10-digit tokens (SSIDs, a sound superset even for files whose columns are
  shifted) and the '@' tokens (logins) of every object put in a local stack's bucket, read back
  (every version) when the stack stops; the districts' Cognito usernames, and as secrets their
  passwords and client secrets (from each stack's Secrets Manager);
- outputs: every record the product's loggers emit, formatted by Powertools' own formatter with
  its extra keys; every metric set Powertools serializes (EMF JSON); every message published to
  a stack's alert topic (through an SQS subscription only this scan reads); every DynamoDB item
  of every table when the stack stops.

``test_privacy_scan`` (tests/test_privacy_scan.py) runs last and fails on any input value or
secret found in an output, and on any JWT ("eyJ...") anywhere in them, naming the test, the
channel and a redacted excerpt; never the value itself.

Child processes: an in-process handler cannot see a child's logs. A child that starts a local
stack, and every child that runs handlers (local_stack.lambda_process, lambda_container,
concurrent_runner), makes a ``child_observer`` (through ``local_stack.observers.OBSERVER_ENV``,
which this plugin sets) that appends what it records to the session file named by
``SESSION_FILE_ENV``.
"""

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.metrics import base as metrics_base
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from cers_groups import resources
from cers_groups.observability import logger as product_logger
from cers_groups.resources import INCOMING_PREFIX
from local_stack import observers as local_stack_observers

SESSION_FILE_ENV = "CERS_GROUPS_PRIVACY_FILE"
SCAN_TEST = "test_privacy_scan"

# The tokens table holds the districts' Cognito tokens by design: it is their shared cache, so
# it is KMS-encrypted in AWS (customer key, readable only by the uploader and poller roles).
# Its items are read for the tokens they hold (to look for them everywhere else), never scanned.
ALLOWED_TABLES = frozenset({resources.TOKENS_TABLE.local_name})

# In a roster, an SSID is a whole field; in an output, any 10 digits in a row may be one.
INPUT_SSID = re.compile(r"(?<![0-9A-Za-z])[0-9]{10}(?![0-9A-Za-z])")
SSID = re.compile(r"(?<![0-9])[0-9]{10}(?![0-9])")
# A login found inside a longer address (it@... in district-it@...) is another address.
ADDRESS_CHARACTER = re.compile(r"[A-Za-z0-9._%+-]")
# A match starts only where a token starts (the lookbehind), so a long run of token characters
# without an '@' (a hostile file's 1 MB line) costs its length once, not its length squared.
AT_TOKEN = re.compile(r"(?<![^\s,;\"'<>()\[\]{}|])[^\s,;\"'<>()\[\]{}|@]+@[^\s,;\"'<>()\[\]{}|]+")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
TOKEN_ATTRIBUTES = ("id_token", "access_token", "refresh_token")
MIN_SECRET = 8  # shorter "secrets" (a test's deliberately broken JSON) would match anything


@dataclass
class Record:
    kind: str  # "output", "ssids", "logins", "secrets", "error"
    test: str
    channel: str = ""
    text: str = ""
    values: list[str] = field(default_factory=list)
    child: bool = False  # recorded in a child process


def current_test() -> str:
    """The running test's id, in this process or (from pytest's variable) in a child."""
    if Recorder.active is not None and Recorder.active.test:
        return Recorder.active.test
    return os.environ.get("PYTEST_CURRENT_TEST", "outside any test").split(" (")[0]


class Recorder:
    """Where every observation goes: memory in the pytest process, the session file in a child."""

    active: "Recorder | None" = None

    def __init__(self, session_file: Path, in_memory: bool) -> None:
        self.session_file = session_file
        self.in_memory = in_memory
        self.records: list[Record] = []
        self.test = ""
        self._lock = threading.Lock()

    def add(self, record: Record) -> None:
        with self._lock:
            if self.in_memory:
                self.records.append(record)
                return
            with self.session_file.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record.__dict__) + "\n")

    def output(self, channel: str, text: str) -> None:
        self.add(Record("output", current_test(), channel, text))

    def all_records(self) -> list[Record]:
        """This process's records and those child processes appended to the session file."""
        records = list(self.records)
        if self.session_file.exists():
            for line in self.session_file.read_text(encoding="utf-8").splitlines():
                records.append(Record(**{**json.loads(line), "child": True}))
        return records


class CapturingFilter(logging.Filter):
    """Sees every record a handler emits and records it as that handler formats it.

    A filter on Powertools' own handler, rather than a second handler, so a test may still
    point that handler's stream elsewhere (tests/e2e/test_observability.py does).
    """

    def __init__(self, recorder: Recorder, handler: logging.Handler) -> None:
        super().__init__()
        self.recorder = recorder
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self.recorder.output(f"log:{record.name}", self.handler.format(record))
        except Exception as error:  # noqa: BLE001 - the scan must see that it missed a line
            self.recorder.add(Record("error", current_test(), "log", repr(error)))
        return True


class CapturingHandler(logging.Handler):
    """For loggers without a Powertools handler (the package's stdlib loggers, via the root):
    their records formatted by Powertools' formatter, as they would be in Lambda."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(product_logger.registered_formatter)
        self.addFilter(CapturingFilter(recorder, self))

    def emit(self, record: logging.LogRecord) -> None:
        pass  # recorded by the filter


def capture_logs(recorder: Recorder) -> list[tuple[logging.Handler, logging.Filter]]:
    """Record what the product's loggers emit; the (handler, filter) pairs, to undo it."""
    attached = []
    for handler in product_logger.handlers:
        capturing = CapturingFilter(recorder, handler)
        handler.addFilter(capturing)
        attached.append((handler, capturing))
    return attached


def capture_outputs(recorder: Recorder) -> None:
    """Capture logs and wrap the two metric serializers, for this process's life."""
    capture_logs(recorder)
    logging.getLogger().addHandler(CapturingHandler(recorder))  # stdlib loggers (cers.py)

    for owner in (AmazonCloudWatchEMFProvider, metrics_base.MetricManager):
        original = owner.serialize_metric_set
        if getattr(original, "_privacy_scan", False):
            continue

        def serialize(self, *args, _original=original, **kwargs):
            blob = _original(self, *args, **kwargs)
            recorder.output("metric", json.dumps(blob))
            return blob

        serialize._privacy_scan = True
        owner.serialize_metric_set = serialize


class StackObserver:
    """Registered in ``local_stack.observers.STACK_OBSERVERS``: sees every stack start and stop."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._mailboxes: dict[int, str] = {}

    def started(self, stack) -> None:
        try:
            self._subscribe(stack)
        except Exception as error:  # noqa: BLE001 - reported by the scan, never breaks a test
            self.recorder.add(Record("error", current_test(), "sns-subscribe", repr(error)))

    def stopping(self, stack) -> None:
        for step in (self._read_inputs, self._read_secrets, self._read_alerts, self._read_items):
            try:
                step(stack)
            except Exception as error:  # noqa: BLE001 - as above
                self.recorder.add(Record("error", current_test(), step.__name__, repr(error)))

    def _subscribe(self, stack) -> None:
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName=f"privacy-scan-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        boto3.client("sns").subscribe(
            TopicArn=stack.resources.topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"]
        )
        self._mailboxes[id(stack)] = url

    def _read_inputs(self, stack) -> None:
        s3 = boto3.client("s3")
        # Only what was dropped: reports and other objects the product derives hold submission
        # ids, whose hex digits could pass for an SSID.
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=stack.resources.bucket, Prefix=INCOMING_PREFIX
        )
        ssids: set[str] = set()
        logins: set[str] = set()
        for page in pages:
            for version in page.get("Versions", []):
                body = s3.get_object(
                    Bucket=stack.resources.bucket,
                    Key=version["Key"],
                    VersionId=version["VersionId"],
                )["Body"].read()
                text = body.decode("utf-8", errors="replace")
                ssids.update(INPUT_SSID.findall(text))
                logins.update(login_tokens(text))
        logins.add(stack.district_login["username"].lower())
        logins -= configured_addresses(stack)
        test = current_test()
        self.recorder.add(Record("ssids", test, values=sorted(ssids)))
        self.recorder.add(Record("logins", test, values=sorted(logins)))

    def _read_secrets(self, stack) -> None:
        manager = boto3.client("secretsmanager")
        secrets = {stack.district_login["password"], stack.district_login.get("client_secret")}
        usernames = set()
        for page in manager.get_paginator("list_secrets").paginate():
            for entry in page["SecretList"]:
                for value in secret_values(manager, entry["ARN"]):
                    self._read_secret(value, secrets, usernames)
        for item in scan_table(resources.TOKENS_TABLE.local_name):
            secrets.update(str(item.get(name) or "") for name in TOKEN_ATTRIBUTES)
        secrets = {value for value in secrets if value and len(value) >= MIN_SECRET}
        self.recorder.add(Record("secrets", current_test(), values=sorted(secrets)))
        logins = {name for name in usernames if "@" in name} - configured_addresses(stack)
        self.recorder.add(Record("logins", current_test(), values=sorted(logins)))

    @staticmethod
    def _read_secret(value: str, secrets: set, usernames: set) -> None:
        try:
            document = json.loads(value)
        except ValueError:
            secrets.add(value)  # a deliberately broken credential: the whole text is secret
            return
        if isinstance(document, dict):
            secrets.update(str(document.get(key) or "") for key in ("password", "client_secret"))
            usernames.add(str(document.get("username") or "").lower())

    def _read_alerts(self, stack) -> None:
        url = self._mailboxes.pop(id(stack), None)
        if url is None:
            return
        sqs = boto3.client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
            ).get("Messages", [])
            if not batch:
                return
            for message in batch:
                envelope = json.loads(message["Body"])
                text = json.dumps(
                    {
                        "Subject": envelope.get("Subject"),
                        "Message": envelope.get("Message"),
                        "MessageAttributes": envelope.get("MessageAttributes"),
                    }
                )
                self.recorder.output("sns", text)

    def _read_items(self, stack) -> None:
        for table in boto3.client("dynamodb").list_tables()["TableNames"]:
            if table in ALLOWED_TABLES:
                continue
            for item in scan_table(table):
                self.recorder.output(f"dynamodb:{table}", json.dumps(item, default=str))


def secret_values(manager, secret_id: str) -> Iterator[str]:
    """Every version's text: a test may have replaced a wrong password with the right one."""
    versions = manager.list_secret_version_ids(SecretId=secret_id, IncludeDeprecated=True)
    for version in versions["Versions"]:
        answer = manager.get_secret_value(SecretId=secret_id, VersionId=version["VersionId"])
        yield answer.get("SecretString", "")


def scan_table(name: str) -> Iterator[dict]:
    table = boto3.resource("dynamodb").Table(name)
    answer = table.scan()
    yield from answer["Items"]
    while "LastEvaluatedKey" in answer:
        answer = table.scan(ExclusiveStartKey=answer["LastEvaluatedKey"])
        yield from answer["Items"]


def login_tokens(text: str) -> set[str]:
    """Every '@' token, lower case, without trailing punctuation."""
    return {token.lower().strip(".:") for token in AT_TOKEN.findall(text) if len(token) > 3}


def configured_addresses(stack) -> set[str]:
    """Alert and operator addresses: configuration meant for operator e-mails, not logins."""
    addresses = {address.lower() for address in stack.tenants.operator_emails}
    for district in stack.tenants.districts:
        addresses.update(address.lower() for address in district.alert_emails)
    return addresses


def child_observer() -> StackObserver:
    """The observer a child process makes through OBSERVER_ENV (local_stack.observers)."""
    recorder = Recorder(Path(os.environ[SESSION_FILE_ENV]), in_memory=False)
    Recorder.active = recorder
    capture_outputs(recorder)
    return StackObserver(recorder)


# --- the scan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    test: str
    channel: str
    what: str  # "SSID", "login", "secret", "JWT"
    fingerprint: str  # sha256 prefix of the value, never the value
    excerpt: str


@dataclass
class Scan:
    findings: list[Finding]
    errors: list[Record]
    counts: dict[str, int]


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:10]


def redact(text: str) -> str:
    """The text with every 10-digit run, '@' token and JWT replaced by a fingerprint."""
    text = JWT.sub(lambda m: f"<jwt#{fingerprint(m.group())}>", text)
    text = SSID.sub(lambda m: f"<digits#{fingerprint(m.group())}>", text)
    return AT_TOKEN.sub(lambda m: f"<at#{fingerprint(m.group().lower())}>", text)


def excerpt(text: str, start: int, end: int, what: str, secrets: Iterable[str] = ()) -> str:
    """Up to 60 characters each side of the match, every private-looking value in them hidden.

    Each side is redacted whole before it is cut, so no part of a value shows at a cut."""

    def hidden(part: str) -> str:
        for secret in secrets:
            part = part.replace(secret, f"<secret#{fingerprint(secret)}>")
        return redact(part)

    marker = (
        f"<{what}#{fingerprint(text[start:end].lower() if what == 'login' else text[start:end])}>"
    )
    return hidden(text[:start])[-60:] + marker + hidden(text[end:])[:60]


class LoginIndex:
    """Exact substring search for many logins, anchored on each '@' of a text."""

    def __init__(self, logins: Iterable[str]) -> None:
        self._shapes: dict[tuple[int, int], set[str]] = {}
        for login in logins:
            self._shapes.setdefault((login.index("@"), len(login)), set()).add(login)

    def find(self, text: str) -> Iterator[tuple[str, int]]:
        lowered = text.lower()
        for at in (m.start() for m in re.finditer("@", lowered)):
            for (offset, length), logins in self._shapes.items():
                start = at - offset
                if start > 0 and ADDRESS_CHARACTER.match(lowered[start - 1]):
                    continue
                if start >= 0 and lowered[start : start + length] in logins:
                    yield lowered[start : start + length], start


def scan(records: list[Record]) -> Scan:
    ssids = {v for r in records if r.kind == "ssids" for v in r.values}
    login_values = {v for r in records if r.kind == "logins" for v in r.values}
    logins = LoginIndex(login_values)
    secrets = sorted({v for r in records if r.kind == "secrets" for v in r.values})
    # JWTs are found by their shape (any JWT at all is a finding); the rest by value.
    by_value = [secret for secret in secrets if not JWT.match(secret)]
    outputs = [r for r in records if r.kind == "output"]
    findings: set[Finding] = set()
    counts: dict[str, int] = {}
    for record in outputs:
        channel = record.channel.split(":")[0]
        counts[channel] = counts.get(channel, 0) + 1
        text = record.text

        def found(what, value, start, end, record=record, text=text):
            findings.add(
                Finding(
                    record.test,
                    record.channel,
                    what,
                    fingerprint(value),
                    excerpt(text, start, end, what, secrets),
                )
            )

        for match in SSID.finditer(text):
            if match.group() in ssids:
                found("SSID", match.group(), match.start(), match.end())
        for login, start in logins.find(text):
            found("login", login, start, start + len(login))
        for match in JWT.finditer(text):
            found("JWT", match.group(), match.start(), match.end())
        for secret in by_value:
            start = text.find(secret)
            if start >= 0:
                found("secret", secret, start, start + len(secret))
    counts["from child processes"] = sum(1 for record in outputs if record.child)
    counts["inputs: SSIDs"] = len(ssids)
    counts["inputs: logins"] = len(login_values)
    counts["inputs: secrets"] = len(secrets)
    errors = [r for r in records if r.kind == "error"]
    return Scan(sorted(findings, key=lambda f: (f.test, f.channel)), errors, counts)


def describe(result: Scan) -> str:
    lines = [f"{len(result.findings)} private values found in outputs:"]
    for finding in result.findings[:200]:
        lines.append(
            f"- {finding.test} [{finding.channel}] {finding.what} #{finding.fingerprint}: "
            f"...{finding.excerpt}..."
        )
    for error in result.errors:
        lines.append(f"- scan incomplete in {error.test} [{error.channel}]: {error.text}")
    return "\n".join(lines)


# --- the plugin -------------------------------------------------------------------------------


class PrivacyPlugin:
    def __init__(self) -> None:
        handle, name = tempfile.mkstemp(prefix="cers-groups-privacy-", suffix=".jsonl")
        os.close(handle)
        self.session_file = Path(name)
        self.recorder = Recorder(self.session_file, in_memory=True)
        self.result: Scan | None = None

    def pytest_configure(self, config) -> None:
        Recorder.active = self.recorder
        capture_outputs(self.recorder)
        local_stack_observers.STACK_OBSERVERS.append(StackObserver(self.recorder))
        os.environ[SESSION_FILE_ENV] = str(self.session_file)
        os.environ[local_stack_observers.OBSERVER_ENV] = f"{__name__}:child_observer"

    def pytest_unconfigure(self, config) -> None:
        self.session_file.unlink(missing_ok=True)

    def pytest_collection_modifyitems(self, session, config, items) -> None:
        last = [item for item in items if item.name == SCAN_TEST]
        items[:] = [item for item in items if item.name != SCAN_TEST] + last

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.recorder.test = item.nodeid
        try:
            return (yield)
        finally:
            self.recorder.test = ""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.result is not None:
            counts = ", ".join(
                f"{name} {count}" for name, count in sorted(self.result.counts.items())
            )
            terminalreporter.write_line(
                f"privacy scan: {len(self.result.findings)} findings; scanned {counts}"
            )


def plugin(config) -> PrivacyPlugin:
    return config.pluginmanager.get_plugin("privacy-scan")
