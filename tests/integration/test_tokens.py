"""The shared token cache against moto's DynamoDB and Cognito (through the logging proxy)."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from cers_groups.resources import TOKEN_KEY
from cers_groups.tenants import District
from cers_groups.tokens import REFRESH_MARGIN, TokenCache
from local_stack.cognito import create_district_login, credential_secret
from local_stack.cognito_proxy import CognitoProxy
from local_stack.moto_server import moto_server
from local_stack.resources import create_tokens_table
from local_stack.stack import COGNITO_ENDPOINT_ENV


@pytest.fixture
def cognito_proxy():
    with moto_server() as url:
        proxy = CognitoProxy(url)
        os.environ[COGNITO_ENDPOINT_ENV] = proxy.start()
        parameters.clear_caches()
        try:
            yield proxy
        finally:
            proxy.stop()
            del os.environ[COGNITO_ENDPOINT_ENV]
            parameters.clear_caches()


@pytest.fixture
def district(cognito_proxy) -> District:
    login = create_district_login()
    district = District(id="north-usd")
    boto3.client("secretsmanager").create_secret(
        Name=district.secret_name, SecretString=json.dumps(credential_secret(login))
    )
    return district


@pytest.fixture
def table(cognito_proxy) -> str:
    return create_tokens_table("tokens")


def test_tokens_many_containers_at_once_sign_in_once(cognito_proxy, district, table):
    # Each "container" has its own cache object; only the table is shared.
    def container(_):
        return TokenCache(table).tokens(district).id_token

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = set(pool.map(container, range(8)))

    assert len(tokens) == 1
    assert cognito_proxy.initiate_auth_calls() == 1


def test_tokens_are_reused_until_five_minutes_before_expiry(cognito_proxy, district, table):
    now = [time.time()]
    cache = TokenCache(table, clock=lambda: now[0])
    first = cache.tokens(district)

    now[0] += 3600 - REFRESH_MARGIN - 1
    assert cache.tokens(district).id_token == first.id_token
    now[0] += 2
    cache.tokens(district)

    assert cognito_proxy.initiate_auth_calls("USER_PASSWORD_AUTH") == 1
    assert cognito_proxy.initiate_auth_calls("REFRESH_TOKEN_AUTH") == 1


def test_tokens_refused_by_cers_are_renewed_once(cognito_proxy, district, table):
    cache = TokenCache(table)
    first = cache.tokens(district)

    renewed = [cache.tokens(district, stale=first) for _ in range(2)]

    assert cognito_proxy.initiate_auth_calls() == 2  # the sign-in and one refresh
    assert renewed[0].id_token == renewed[1].id_token


def test_tokens_item_expires_and_holds_no_password(cognito_proxy, district, table):
    TokenCache(table).tokens(district)

    item = boto3.resource("dynamodb").Table(table).get_item(Key={TOKEN_KEY: district.id})["Item"]

    assert item["expires_ttl"] > Decimal(time.time() + 29 * 24 * 3600)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=district.secret_name)
    password = json.loads(secret["SecretString"])["password"]
    assert password not in json.dumps(item, default=str)
    assert "lease_until" not in item


def test_tokens_remembered_bearer_is_preferred(cognito_proxy, district, table):
    cache = TokenCache(table)
    assert (cache.tokens(district).preferred, cache.tokens(district).confirmed) == ("id", False)

    cache.remember_bearer(district.id, "access")

    tokens = cache.tokens(district)
    assert (tokens.preferred, tokens.confirmed) == ("access", True)
    assert "eyJ" not in repr(tokens)
