"""`make local` as the command line meets it: a separate process serving the local stack."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cers_groups import cli
from cers_groups.deployment import LOCAL_FILE_ENV
from cers_groups.ops_cli import ExitCode

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "local_stack" / "samples"


@pytest.fixture
def service(tmp_path):
    """``python -m local_stack.serve`` in its own process; its state file once it is up."""
    state = tmp_path / "local-stack.json"
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'functions'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack.serve", "--state-file", str(state)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the local stack did not come up"
            time.sleep(0.2)
        yield process, state
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_local_service_serves_the_command_line_and_stops_cleanly(service):
    process, state = service
    recorded = json.loads(state.read_text())
    runner = CliRunner()
    env = {LOCAL_FILE_ENV: str(state)}

    valid = runner.invoke(
        cli.app,
        ["submit", str(SAMPLES / "valid_roster.csv"), "-t", "sample-usd", "--wait"],
        env=env,
    )
    invalid = runner.invoke(
        cli.app,
        ["submit", str(SAMPLES / "invalid_roster.csv"), "-t", "sample-usd", "--wait", "--json"],
        env=env,
    )
    pending = runner.invoke(cli.app, ["status", "--json"], env=env)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)

    assert recorded["endpoint_url"].startswith("http://127.0.0.1:")
    assert recorded["districts"] == ["sample-usd"]
    assert valid.exit_code == ExitCode.OK, valid.output
    assert "ACCEPTED (CERS import 1)" in valid.stdout
    assert invalid.exit_code == ExitCode.FAILED
    assert json.loads(invalid.stdout)["submission"]["status"] == "INVALID"
    assert [item["status"] for item in json.loads(pending.stdout)] == ["ACCEPTED"]
    assert process.returncode == 0
    assert "Local stack stopped." in output
    assert not state.exists()
