"""``cers-groups verify-auth``: check a district's CERS credential the way the state asks.

Reads the district's secret, signs in to Cognito once, and asks CERS ``GET /imports/user`` who
that is, showing whether the login may write student groups (``PERM_GROUP_WRITE``) and which
token CERS accepts as the bearer. Nothing is uploaded and the deployment's shared tokens are not
touched.

Environment: ``TENANTS_FILE`` (default ``tenants.json``) names the districts file; boto3 reads
the AWS credentials and region as usual, and ``AWS_ENDPOINT_URL`` points it at a local stack.
"""

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cers_groups import cognito
from cers_groups.cers import CersClient, CersError
from cers_groups.errors import ConfigurationError
from cers_groups.resources import TENANTS_FILE_ENV
from cers_groups.tenants import load_tenants
from cers_groups.uploads import GROUP_WRITE, has_group_write

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


def verify_auth(
    tenant: Annotated[str, typer.Option("--tenant", help="The district id in the tenants file.")],
    tenants_file: Annotated[
        Path | None,
        typer.Option(
            "--tenants-file",
            help=f"The districts file (default: ${TENANTS_FILE_ENV}, else tenants.json).",
        ),
    ] = None,
) -> None:
    """Sign in with the district's CERS credential and show what CERS lets it do.

    Exit status: 0 when the login may write groups, 1 when sign-in fails or the permission is
    missing, 2 when the district or its secret is not set up.
    """
    path = tenants_file or Path(os.environ.get(TENANTS_FILE_ENV) or "tenants.json")
    try:
        district = load_tenants(path).district(tenant)
        if district is None:
            _stop(f"District {tenant!r} is not in {path}.", EXIT_USAGE)
        credentials = cognito.read_credentials(district.secret_name)
    except ConfigurationError as error:
        _stop(str(error), EXIT_USAGE)

    typer.echo(f"District {district.id}: CERS at {district.cers_endpoint}")
    try:
        tokens = cognito.sign_in(credentials)
    except cognito.AuthenticationError as error:
        _stop(f"Sign-in failed ({error.reason}): {error}", EXIT_REFUSED)
    typer.echo(
        f"Signed in to Cognito as {credentials.username} (app client {credentials.client_id})"
    )

    user, token_use = _ask_cers(district.cers_endpoint, tokens, credentials.token_use)
    _show(user, token_use, credentials.token_use)
    if not has_group_write(user):
        raise typer.Exit(EXIT_REFUSED)


def _ask_cers(endpoint: str, tokens: cognito.CognitoTokens, preferred: str):
    """``GET /imports/user`` with the configured token, then the other one after a 401."""
    refusal = None
    for token_use in (preferred, "access" if preferred == "id" else "id"):
        try:
            with CersClient(endpoint, tokens.bearer(token_use)) as client:
                return client.current_user(), token_use
        except CersError as error:
            if error.reason != "unauthorized":
                _stop(f"CERS did not answer as expected: {error}", EXIT_REFUSED)
            refusal = error
    _stop(f"CERS refused both the ID and the access token: {refusal}", EXIT_REFUSED)


def _show(user: dict[str, Any], token_use: str, configured: str) -> None:
    typer.echo(f"CERS sees user: {user.get('username', '(not named)')}")
    note = "" if token_use == configured else f" (not {configured}: set token_use to {token_use!r})"
    typer.echo(f"Bearer token CERS accepts: {token_use}{note}")
    authorities = [
        entry.get("authority") if isinstance(entry, dict) else str(entry)
        for entry in user.get("authorities") or []
    ]
    typer.echo(f"Authorities: {', '.join(authorities) or '(none listed)'}")
    for permission in user.get("permissions") or []:
        scope = permission.get("scope") or {}
        where = "statewide" if scope.get("statewide") else _scope_text(scope)
        typer.echo(f"Permission {permission.get('id')}: {where}")
    if has_group_write(user):
        typer.echo(f"Group write permission ({GROUP_WRITE}): yes")
    else:
        typer.echo(
            f"Group write permission ({GROUP_WRITE}): NO. Ask the LEA CAASPP coordinator to give "
            "this login group administration in TOMS; uploads will fail until then."
        )


def _scope_text(scope: dict[str, Any]) -> str:
    parts = [
        f"{name} {', '.join(str(value) for value in values)}"
        for name, values in scope.items()
        if isinstance(values, list) and values
    ]
    return "; ".join(parts) or "no schools or districts listed"


def _stop(message: str, code: int):
    typer.echo(message, err=True)
    raise typer.Exit(code)
