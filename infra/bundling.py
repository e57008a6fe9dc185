"""Lambda code bundling without Docker: copy the package, pip-install wheels for the runtime."""

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, FileSystem, ILocalBundling
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


def _checked_extra_files(extra_files: Mapping[str, str] | None) -> dict[str, str]:
    files = dict(extra_files or {})
    for name in files:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"extra files go in the asset root: {name!r} is not a plain name")
        if name == PACKAGE:
            raise ValueError(f"an extra file cannot be named like the package ({PACKAGE})")
    return files


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Builds the function asset on this machine with the current interpreter's pip.

    ``extra_files`` (name to text) are written to the asset root, next to the package.
    """

    def __init__(
        self,
        source_dir: Path,
        requirements: Path,
        extra_files: Mapping[str, str] | None = None,
    ) -> None:
        self._source_dir = source_dir
        self._requirements = requirements
        self._extra_files = _checked_extra_files(extra_files)

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        output = Path(output_dir)
        package_dir = self._source_dir / PACKAGE
        shutil.copytree(
            package_dir,
            output / PACKAGE,
            ignore=_ignore_in_package(package_dir),
            dirs_exist_ok=True,
        )
        for name, text in self._extra_files.items():
            (output / name).write_text(text, encoding="utf-8")
        self._pip_install(output)
        return True

    def _pip_install(self, output: Path) -> None:
        target = ["--target", str(output), "--requirement", str(self._requirements)]
        command = [sys.executable, "-m", "pip", "install", *PIP_OPTIONS, *target]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
        if result.returncode != 0:
            raise BundlingError(f"pip install failed ({result.returncode}):\n{result.stderr}")


def bundling_options(
    source_dir: Path, extra_files: Mapping[str, str] | None = None
) -> BundlingOptions:
    """Options for `Code.from_asset(source_dir, bundling=...)`."""
    local = PipLocalBundling(source_dir, source_dir / "requirements.txt", extra_files)
    return BundlingOptions(image=DockerImage.from_registry(PLACEHOLDER_IMAGE), local=local)


def asset_hash(source_dir: Path, extra_files: Mapping[str, str] | None = None) -> str:
    """The source directory's fingerprint, salted with the extra files and the pip options.

    CDK's own source hash only sees ``source_dir``: without this, a change to a file that is
    written into the bundle from elsewhere would keep the old asset (CDK reuses a staged
    ``cdk.out/asset.<hash>``, and the deployment would not update the functions' code).
    """
    salt = hashlib.sha256()
    for part in PIP_OPTIONS:
        salt.update(f"pip {part}\n".encode())
    for name, text in sorted(_checked_extra_files(extra_files).items()):
        salt.update(f"file {name} {len(text.encode())}\n".encode())
        salt.update(text.encode())
    return FileSystem.fingerprint(
        str(source_dir), exclude=list(SOURCE_EXCLUDES), extra_hash=salt.hexdigest()
    )


def function_code(source_dir: Path, extra_files: Mapping[str, str] | None = None) -> lambda_.Code:
    """The functions' asset: the package, its pinned dependencies, and ``extra_files``.

    The hash is CUSTOM (see ``asset_hash``) rather than OUTPUT: it is known before bundling, so
    an unchanged asset is not bundled again, and it still changes with ``extra_files`` when
    bundling is skipped (CDK replaces an OUTPUT hash by the construct path in that case).
    """
    return lambda_.Code.from_asset(
        str(source_dir),
        exclude=list(SOURCE_EXCLUDES),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(source_dir, extra_files),
        bundling=bundling_options(source_dir, extra_files),
    )
