"""The credential model, SECRET_HASH and the mapping of Cognito answers, without any network."""

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from cers_groups import cognito
from cers_groups.cognito import AuthenticationError, CersCredentials, authenticate, secret_hash

PASSWORD = "Pa55-word-not-for-logs"
CREDENTIAL = {
    "username": "it@sampleusd.example.org",
    "password": PASSWORD,
    "client_id": "4hs2kq0example7client",
    "region": "us-west-2",
}


@pytest.fixture
def stubbed_cognito(monkeypatch):
    """The Cognito client ``authenticate`` creates, answering from a botocore Stubber."""
    client = boto3.client(
        "cognito-idp",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    monkeypatch.setattr(cognito.boto3, "client", lambda *args, **kwargs: client)
    with Stubber(client) as stubber:
        yield stubber


def test_secret_hash_matches_openssl():
    # printf '%s' "<username><client id>" | openssl dgst -sha256 -hmac "<secret>" -binary | base64
    expected = "9djeiSfjysEsvxvAmv6nreaBazcUo8xAN/6q3Onp+WM="

    actual = secret_hash(
        "it@sampleusd.example.org", "4hs2kq0example7client", "s3cr3t-example-client-secret"
    )

    assert actual == expected


def test_credentials_defaults_to_id_token_and_no_client_secret():
    credentials = CersCredentials.model_validate(CREDENTIAL)

    assert credentials.token_use == "id"
    assert credentials.client_secret is None


def test_credentials_treats_blank_client_secret_as_none():
    credentials = CersCredentials.model_validate({**CREDENTIAL, "client_secret": "  "})

    assert credentials.client_secret is None


def test_credentials_never_show_the_password():
    credentials = CersCredentials.model_validate({**CREDENTIAL, "client_secret": "topsecret"})

    assert PASSWORD not in repr(credentials)
    assert PASSWORD not in str(credentials)
    assert "topsecret" not in repr(credentials)


@pytest.mark.parametrize("missing", ["username", "password", "client_id", "region"])
def test_credentials_require_each_field(missing):
    value = {name: text for name, text in CREDENTIAL.items() if name != missing}

    with pytest.raises(ValidationError) as raised:
        CersCredentials.model_validate(value)

    assert raised.value.errors()[0]["loc"] == (missing,)


def test_credentials_reject_empty_username():
    with pytest.raises(ValidationError):
        CersCredentials.model_validate({**CREDENTIAL, "username": ""})


def test_credentials_reject_unknown_token_use():
    with pytest.raises(ValidationError) as raised:
        CersCredentials.model_validate({**CREDENTIAL, "token_use": "refresh"})

    assert raised.value.errors()[0]["loc"] == ("token_use",)


def test_authenticate_sends_secret_hash_when_client_has_secret(stubbed_cognito):
    credentials = CersCredentials.model_validate({**CREDENTIAL, "client_secret": "s3cr3t"})
    stubbed_cognito.add_response(
        "initiate_auth",
        {"AuthenticationResult": {"IdToken": "id-token", "AccessToken": "access-token"}},
        expected_params={
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": CREDENTIAL["client_id"],
            "AuthParameters": {
                "USERNAME": CREDENTIAL["username"],
                "PASSWORD": PASSWORD,
                "SECRET_HASH": secret_hash(
                    CREDENTIAL["username"], CREDENTIAL["client_id"], "s3cr3t"
                ),
            },
        },
    )

    assert authenticate(credentials) == "id-token"


def test_authenticate_returns_access_token_when_asked(stubbed_cognito):
    credentials = CersCredentials.model_validate({**CREDENTIAL, "token_use": "access"})
    stubbed_cognito.add_response(
        "initiate_auth",
        {"AuthenticationResult": {"IdToken": "id-token", "AccessToken": "access-token"}},
    )

    assert authenticate(credentials) == "access-token"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("NotAuthorizedException", "wrong-password"),
        ("UserNotFoundException", "user-not-found"),
        ("UserNotConfirmedException", "user-not-confirmed"),
        ("PasswordResetRequiredException", "password-reset-required"),
        ("InvalidParameterException", "client-misconfigured"),
        ("ResourceNotFoundException", "client-misconfigured"),
        ("TooManyRequestsException", "throttled"),
        ("InternalErrorException", "unexpected-response"),
    ],
)
def test_authenticate_maps_cognito_errors_to_reasons(stubbed_cognito, code, reason):
    stubbed_cognito.add_client_error("initiate_auth", service_error_code=code)

    with pytest.raises(AuthenticationError) as raised:
        authenticate(CersCredentials.model_validate(CREDENTIAL))

    assert raised.value.reason == reason
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize("challenge", ["NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA"])
def test_authenticate_never_answers_a_challenge(stubbed_cognito, challenge):
    stubbed_cognito.add_response(
        "initiate_auth", {"ChallengeName": challenge, "Session": "session-token-" + "x" * 20}
    )

    with pytest.raises(AuthenticationError) as raised:
        authenticate(CersCredentials.model_validate(CREDENTIAL))

    assert raised.value.reason == "new-password-required"
    assert "session-token" not in str(raised.value)
    stubbed_cognito.assert_no_pending_responses()
