"""Synthesize the stack once per session, with cdk.json's context and bundling skipped."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.stack import stack_from_context

ROOT = Path(__file__).resolve().parents[2]
ALERT_EMAILS = ["roster-ops@example.org", "data-team@example.org"]


def synthesize(**context: Any) -> Template:
    """The template `cdk synth` would produce with these context values on top of cdk.json."""
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    app = App(context={**cdk_json["context"], "aws:cdk:bundling-stacks": [], **context})
    return Template.from_stack(stack_from_context(app))


@pytest.fixture(scope="session")
def alert_emails() -> list[str]:
    return ALERT_EMAILS


@pytest.fixture(scope="session")
def template() -> Template:
    return synthesize(alert_emails=ALERT_EMAILS)


@pytest.fixture(scope="session")
def template_without_alerts() -> Template:
    return synthesize()


@pytest.fixture(scope="session")
def synth() -> Callable[..., Template]:
    """For tests that need other context values: each call is another synthesis (~0.3 s)."""
    return synthesize
