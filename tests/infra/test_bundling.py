"""Local bundling: called by CDK through jsii, copies the package, pip-installs for Lambda."""

import json
import subprocess
from pathlib import Path

import pytest
from aws_cdk import App, DockerImage, Stack
from aws_cdk import aws_lambda as lambda_

from cers_groups import resources as res
from infra import bundling
from infra.bundling import PIP_PLATFORM, PYTHON_VERSION, BundlingError, PipLocalBundling

IMAGE = DockerImage.from_registry(bundling.PLACEHOLDER_IMAGE)
TENANTS_TEXT = '{"districts": [{"id": "north-usd"}]}\n'
EXTRA_FILES = {res.BUNDLED_TENANTS_FILE: TENANTS_TEXT}


def _source(tmp_path: Path, requirements: str) -> Path:
    source = tmp_path / "functions"
    package = source / bundling.PACKAGE
    (package / "handlers" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("import typer\n")
    (package / "handlers" / "cli.py").write_text("# not the operator CLI\n")
    (package / "handlers" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    (source / "requirements.txt").write_text(requirements)
    return source


def test_pip_targets_the_lambda_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bundling.subprocess, "run", fake_run)
    source = _source(tmp_path, "six==1.17.0\n")
    output = tmp_path / "out"
    bundler = PipLocalBundling(source, source / "requirements.txt", EXTRA_FILES)

    assert bundler.try_bundle(str(output), image=IMAGE) is True

    (command,) = calls
    assert f"--platform={PIP_PLATFORM}" in command
    assert f"--python-version={PYTHON_VERSION}" in command
    assert "--only-binary=:all:" in command
    assert command[command.index("--target") + 1] == str(output)
    package = output / bundling.PACKAGE
    assert (package / "__init__.py").exists()
    assert (package / "handlers" / "cli.py").exists()
    assert not (package / "cli.py").exists()
    assert not (package / "handlers" / "__pycache__").exists()
    assert (output / res.BUNDLED_TENANTS_FILE).read_text() == TENANTS_TEXT


@pytest.mark.parametrize("name", ["", ".", "..", "sub/tenants.json", "/abs/x", bundling.PACKAGE])
def test_extra_files_go_in_the_asset_root_only(tmp_path: Path, name: str) -> None:
    source = _source(tmp_path, "")
    with pytest.raises(ValueError, match="extra file"):
        PipLocalBundling(source, source / "requirements.txt", {name: "x"})


def test_asset_hash_follows_sources_and_extra_files(tmp_path: Path) -> None:
    source = _source(tmp_path, "six==1.17.0\n")
    first = bundling.asset_hash(source, EXTRA_FILES)
    assert bundling.asset_hash(source, EXTRA_FILES) == first
    assert bundling.asset_hash(source, {res.BUNDLED_TENANTS_FILE: "{}"}) != first
    assert bundling.asset_hash(source) != first
    # Caches are not sources; the package is.
    (source / bundling.PACKAGE / "handlers" / "__pycache__" / "y.pyc").write_bytes(b"1")
    assert bundling.asset_hash(source, EXTRA_FILES) == first
    (source / bundling.PACKAGE / "handlers" / "new.py").write_text("")
    assert bundling.asset_hash(source, EXTRA_FILES) != first


def test_pip_failure_stops_synthesis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "No matching distribution")

    monkeypatch.setattr(bundling.subprocess, "run", failing_run)
    source = _source(tmp_path, "no-such-package==0\n")
    bundler = PipLocalBundling(source, source / "requirements.txt")
    with pytest.raises(BundlingError, match="No matching distribution"):
        bundler.try_bundle(str(tmp_path / "out"), image=IMAGE)


@pytest.mark.slow
def test_cdk_calls_the_local_bundler(tmp_path: Path) -> None:
    """Through jsii for real (the callback's signature matters) and pip from the index."""
    source = _source(tmp_path, "six==1.17.0\n")
    app = App(outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, "BundlingProbe")
    code = bundling.function_code(source, EXTRA_FILES)
    lambda_.Function(stack, "Probe", runtime=bundling.RUNTIME, handler="cers_groups.x", code=code)
    app.synth()

    (asset,) = (tmp_path / "cdk.out").glob("asset.*")
    assert (asset / bundling.PACKAGE / "__init__.py").exists()
    assert not (asset / bundling.PACKAGE / "cli.py").exists()
    assert (asset / "six.py").exists()
    assert (asset / res.BUNDLED_TENANTS_FILE).read_text() == TENANTS_TEXT
    assert asset.name == f"asset.{_staged_hash(tmp_path / 'cdk.out')}"
    assert not list(asset.rglob("*.pyc"))


def _staged_hash(outdir: Path) -> str:
    """The hash the cloud assembly gives the function's asset."""
    manifest = json.loads(next(outdir.glob("*.assets.json")).read_text())
    (asset_hash,) = [
        key for key, asset in manifest["files"].items() if asset["source"]["packaging"] == "zip"
    ]
    return asset_hash
