"""No SSID, login, password or token from the session's inputs in anything the product wrote.

Runs last (tests/privacy.py orders it). When the session wrote nothing to some channel (it runs
alone, or with tests that start no stack), it first runs a small workload of its own, so it never
passes having scanned nothing.
"""

import json
from pathlib import Path

import boto3

from local_stack.stack import local_stack
from tests import privacy

SAMPLES = Path(__file__).parents[1] / "local_stack" / "samples"
VALID = SAMPLES / "valid_roster.csv"
INVALID = SAMPLES / "invalid_roster.csv"
WRONG_PASSWORD = "Not-The-Roster-Pass-7!"


def _workload() -> None:
    """The demo's two rosters, then a sign-in with the wrong password."""
    with local_stack() as stack:
        stack.drop(VALID)
        stack.drop(INVALID)
        stack.run()
    with local_stack() as stack:
        secrets = boto3.client("secretsmanager")
        name = stack.tenants.districts[0].secret_name
        credential = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
        secrets.put_secret_value(
            SecretId=name, SecretString=json.dumps({**credential, "password": WRONG_PASSWORD})
        )
        stack.drop(VALID)
        stack.run()


CHANNELS = ("log", "metric", "sns", "dynamodb", "inputs: SSIDs", "inputs: logins")


def _scanned_nothing_in(result: privacy.Scan) -> list[str]:
    return [channel for channel in CHANNELS if result.counts.get(channel, 0) == 0]


def test_privacy_scan(request):
    scan_plugin = privacy.plugin(request.config)
    result = privacy.scan(scan_plugin.recorder.all_records())
    if _scanned_nothing_in(result):
        # Run alone or after tests that start no stack: scan a workload of its own.
        _workload()
        result = privacy.scan(scan_plugin.recorder.all_records())
    scan_plugin.result = result  # its counts end the session's summary

    assert _scanned_nothing_in(result) == []
    assert result.counts["inputs: secrets"] > 0
    assert not result.findings and not result.errors, privacy.describe(result)
