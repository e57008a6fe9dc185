"""`cers-groups verify-auth` against the local stack: moto's Cognito and the CERS stand-in."""

import json

import boto3
import pytest
from typer.testing import CliRunner

from cers_groups.cli import app
from local_stack.stack import local_stack

runner = CliRunner()


@pytest.fixture
def stack():
    with local_stack() as running:
        yield running


def verify(*args: str):
    return runner.invoke(app, ["verify-auth", *args])


def test_verify_auth_shows_the_user_and_group_write(stack):
    result = verify("--tenant", "sample-usd")

    assert result.exit_code == 0, result.output
    assert f"CERS sees user: {stack.district_login['username']}" in result.output
    assert "Group write permission (PERM_GROUP_WRITE): yes" in result.output
    assert "Bearer token CERS accepts: id" in result.output
    assert stack.district_login["password"] not in result.output
    assert stack.cognito.initiate_auth_calls() == 1


def test_verify_auth_without_group_write_exits_1_and_says_what_to_ask(stack):
    stack.standin.group_writers = frozenset()

    result = verify("--tenant", "sample-usd")

    assert result.exit_code == 1
    assert "Group write permission (PERM_GROUP_WRITE): NO" in result.output
    assert "group administration" in result.output


def test_verify_auth_finds_the_token_cers_accepts(stack):
    stack.standin.token_uses = frozenset({"access"})

    result = verify("--tenant", "sample-usd")

    assert result.exit_code == 0, result.output
    assert "Bearer token CERS accepts: access (not id: set token_use to 'access')" in result.output


def test_verify_auth_wrong_password_exits_1_with_the_reason(stack):
    secrets = boto3.client("secretsmanager")
    name = stack.tenants.districts[0].secret_name
    value = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    secrets.put_secret_value(
        SecretId=name, SecretString=json.dumps({**value, "password": "Wrong-Pass-123!"})
    )

    result = verify("--tenant", "sample-usd")

    assert result.exit_code == 1
    assert "Sign-in failed (wrong-password)" in result.output
    assert "Wrong-Pass-123!" not in result.output


def test_verify_auth_unknown_district_exits_2(stack):
    result = verify("--tenant", "no-such-district")

    assert result.exit_code == 2
    assert "'no-such-district' is not in" in result.output
