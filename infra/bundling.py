"""Lambda code bundling without Docker: copy the package, pip-install wheels for the runtime."""

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PACKAGE = "cers_groups"
PYTHON_VERSION = "3.12"
ARCHITECTURE = lambda_.Architecture.X86_64
PIP_PLATFORM = "manylinux2014_x86_64"
RUNTIME = lambda_.Runtime.PYTHON_3_12
# Never pulled: local bundling always succeeds or raises, so Docker is not needed.
PLACEHOLDER_IMAGE = "public.ecr.aws/sam/build-python3.12"
# Left out of the source hash and of the bundle.
SOURCE_EXCLUDES = ("__pycache__", "*.pyc", "*.egg-info")
# Wheels for the Lambda runtime, whatever this machine runs; no .pyc for the wrong Python.
PIP_OPTIONS = (
    "--quiet",
    "--disable-pip-version-check",
    "--no-compile",
    f"--platform={PIP_PLATFORM}",
    "--only-binary=:all:",
    f"--python-version={PYTHON_VERSION}",
    "--implementation=cp",
)


class BundlingError(RuntimeError):
    """pip could not install the runtime dependencies."""


def _ignore_in_package(package_dir: Path) -> Callable[[str, list[str]], Iterable[str]]:
    """Skip caches everywhere and the operator CLI at the package root (it needs typer/rich)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(shutil.ignore_patterns(*SOURCE_EXCLUDES)(directory, names))
        if Path(directory) == package_dir:
            ignored.add("cli.py")
        return ignored

    return ignore


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Builds the function asset on this machine with the current interpreter's pip."""

    def __init__(self, source_dir: Path, requirements: Path) -> None:
        self._source_dir = source_dir
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        output = Path(output_dir)
        package_dir = self._source_dir / PACKAGE
        shutil.copytree(
            package_dir,
            output / PACKAGE,
            ignore=_ignore_in_package(package_dir),
            dirs_exist_ok=True,
        )
        self._pip_install(output)
        return True

    def _pip_install(self, output: Path) -> None:
        target = ["--target", str(output), "--requirement", str(self._requirements)]
        command = [sys.executable, "-m", "pip", "install", *PIP_OPTIONS, *target]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BundlingError(f"pip install failed ({result.returncode}):\n{result.stderr}")


def bundling_options(source_dir: Path) -> BundlingOptions:
    """Options for `Code.from_asset(source_dir, bundling=...)`."""
    local = PipLocalBundling(source_dir, source_dir / "requirements.txt")
    return BundlingOptions(image=DockerImage.from_registry(PLACEHOLDER_IMAGE), local=local)
