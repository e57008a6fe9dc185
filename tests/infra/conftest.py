"""Synthesize the stack once per session, with cdk.json's context, test tenants, no bundling."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Annotations, Template

from infra.nag import add_checks
from infra.stack import TENANTS_FILE_CONTEXT, stack_from_context

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = "cers-ops@vendor.example.org"
NORTH_EXPORTER = "arn:aws:iam::111122223333:role/sis-nightly-export"
# Two districts, each with its own alert addresses, and one operator who gets every alert.
# North also has a heartbeat, a drop role for its SIS export and an SFTP user; the SFTP server
# is switched on and the retention settings are not the defaults.
TENANTS: dict[str, Any] = {
    "operator_emails": [OPERATOR],
    "deployment": {
        "roster_retention_days": 14,
        "report_retention_days": 60,
        "access_log_retention_days": 400,
        "sftp_enabled": True,
    },
    "districts": [
        {
            "id": "north-usd",
            "name": "North Unified",
            "alert_emails": ["it@north.example.org", "data@north.example.org"],
            "heartbeat_hours": 26,
            "exporter_principal": NORTH_EXPORTER,
            "sftp_user": "north-sis",
        },
        {
            "id": "south-usd",
            "secret_name": "cers/south-usd",
            "alert_emails": ["it@south.example.org"],
            "rules": {"school_years": [2027], "allowed_schools": ["b", "a"]},
        },
    ],
}


def write_tenants(directory: Path, document: Any) -> Path:
    """A tenants file with this content (a str is written as it is, anything else as JSON)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tenants.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def synthesize(**context: Any) -> Template:
    """The template `cdk synth` would produce with these context values on top of cdk.json."""
    return Template.from_stack(stack_from_context(_app(**context)))


def synthesize_with_checks(**context: Any) -> tuple[Template, Annotations]:
    """As ``synthesize``, with cdk-nag's AWS Solutions checks run as `cdk synth` runs them."""
    stack = stack_from_context(_app(**context))
    add_checks(stack)
    template = Template.from_stack(stack)
    return template, Annotations.from_stack(stack)


def _app(**context: Any) -> App:
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    return App(context={**cdk_json["context"], "aws:cdk:bundling-stacks": [], **context})


@pytest.fixture(scope="session")
def tenants() -> dict[str, Any]:
    """The test tenants behind `template`; copy before changing."""
    return TENANTS


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = write_tenants(tmp_path_factory.mktemp("tenants"), TENANTS)
    return synthesize(**{TENANTS_FILE_CONTEXT: str(path)})


@pytest.fixture(scope="session")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Template, Annotations]]:
    """The test tenants (every feature on) and the repository's own, with cdk-nag run."""
    path = write_tenants(tmp_path_factory.mktemp("tenants"), TENANTS)
    return {
        "test tenants": synthesize_with_checks(**{TENANTS_FILE_CONTEXT: str(path)}),
        "tenants.json": synthesize_with_checks(
            **{TENANTS_FILE_CONTEXT: str(ROOT / "tenants.json")}
        ),
    }


@pytest.fixture(scope="session")
def default_template() -> Template:
    """The repository's own tenants.json: one district, no addresses."""
    return synthesize(**{TENANTS_FILE_CONTEXT: str(ROOT / "tenants.json")})


@pytest.fixture(scope="session")
def synth() -> Callable[..., Template]:
    """For tests that need other context values: each call is another synthesis (~0.3 s)."""
    return synthesize


@pytest.fixture()
def tenants_file(tmp_path: Path) -> Callable[[Any], Path]:
    """Writes a tenants file (a str as it is, anything else as JSON) and returns its path."""
    count = 0

    def write(document: Any) -> Path:
        nonlocal count
        count += 1
        return write_tenants(tmp_path / str(count), document)

    return write


@pytest.fixture()
def synth_tenants(
    synth: Callable[..., Template], tenants_file: Callable[[Any], Path]
) -> Callable[[Any], Template]:
    """Synthesizes with another tenants file: each call is another synthesis (~0.3 s)."""
    return lambda document: synth(**{TENANTS_FILE_CONTEXT: str(tenants_file(document))})
