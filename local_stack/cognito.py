"""A district's CERS login, created in moto's Cognito.

Run inside ``moto_server()``: the boto3 clients here are plain defaults, so they reach moto
through ``AWS_ENDPOINT_URL``.
"""

import os
import uuid

import boto3

DEFAULT_USERNAME = "it@sampleusd.example.org"
# Satisfies Cognito's default password policy (length, upper, lower, digit, symbol).
DEFAULT_PASSWORD = "Local-Roster-Pass-42"  # noqa: S105 - the local stand-in login only


def create_district_login(
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    with_client_secret: bool = False,
) -> dict:
    """Create a user pool, an app client and a user that signs in without any challenge.

    The app client allows USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH (and has a generated secret
    when asked). The password is set as permanent, so there is no NEW_PASSWORD_REQUIRED.

    Returns a dict with ``pool_id``, ``client_id``, ``client_secret`` (or None), ``username``,
    ``password``, ``region``, ``jwks_url`` (served by moto) and ``issuer`` (the ``iss`` claim
    of the tokens).
    """
    cognito = boto3.client("cognito-idp")
    region = cognito.meta.region_name

    pool_id = cognito.create_user_pool(PoolName=f"cers-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]

    client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="cers-groups",
        GenerateSecret=with_client_secret,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]

    cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )

    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    return {
        "pool_id": pool_id,
        "client_id": client["ClientId"],
        "client_secret": client.get("ClientSecret"),
        "username": username,
        "password": password,
        "region": region,
        "jwks_url": f"{endpoint}/{pool_id}/.well-known/jwks.json",
        "issuer": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
    }


def add_login(login: dict, username: str) -> dict:
    """Another user in ``login``'s user pool, with the same password and app client; its login."""
    cognito = boto3.client("cognito-idp")
    cognito.admin_create_user(
        UserPoolId=login["pool_id"], Username=username, MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(
        UserPoolId=login["pool_id"], Username=username, Password=login["password"], Permanent=True
    )
    return {**login, "username": username}


def credential_secret(login: dict, token_use: str = "id") -> dict:  # noqa: S107 - a token kind
    """The JSON a district stores in its CERS credential secret, for this login."""
    secret = {
        "username": login["username"],
        "password": login["password"],
        "client_id": login["client_id"],
        "region": login["region"],
        "token_use": token_use,
    }
    if login.get("client_secret"):
        secret["client_secret"] = login["client_secret"]
    return secret
