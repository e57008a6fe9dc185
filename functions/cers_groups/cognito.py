"""Signing in to CERS: the district's credential and Cognito InitiateAuth.

The district keeps its CERS login (generated in TOMS) in a Secrets Manager secret as a JSON object.
``read_credentials`` loads and checks it; ``authenticate`` trades it for a Cognito token that
``cers.CersClient`` sends as the bearer. Neither the password nor any token ever appears in an
exception message or a log line.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Literal

import boto3
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

from cers_groups.errors import CersGroupsError, ConfigurationError
from cers_groups.resources import SECRET_PLACEHOLDER
from cers_groups.transport import plain_http_refused

# One Lambda container reads the secret at most this often; a rotated credential is picked up
# within this many seconds without a redeploy.
SECRET_MAX_AGE_SECONDS = 300

CREDENTIAL_SHAPE = (
    'a JSON object {"username": ..., "password": ..., "client_id": ..., "region": ...} '
    'with optional "client_secret" and "token_use" ("id" or "access")'
)

_TOKEN_FIELD = {"id": "IdToken", "access": "AccessToken"}

# botocore's "standard" retry mode retries throttling and connection errors with exponential
# backoff and full jitter; this many calls at most, before the caller sees the error.
SIGN_IN_ATTEMPTS = 4
_COGNITO_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15}


@dataclass(frozen=True)
class CognitoTokens:
    """What one sign-in returns. The tokens are credentials: they never appear in a repr."""

    id_token: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int

    def bearer(self, token_use: str) -> str:
        return self.id_token if token_use == "id" else self.access_token  # noqa: S105 - a token kind


class CersCredentials(BaseModel):
    """The CERS login of one district, as stored in its secret."""

    model_config = ConfigDict(frozen=True)

    username: str = Field(min_length=1)
    password: SecretStr = Field(min_length=1)
    client_id: str = Field(min_length=1)
    region: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    token_use: Literal["id", "access"] = "id"  # noqa: S105 - a token kind

    # Where the credential came from, named in error messages; never part of the secret itself.
    _source: str = PrivateAttr(default="the CERS credential")

    @field_validator("client_secret", mode="before")
    @classmethod
    def _blank_secret_means_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def source(self) -> str:
        return self._source


class AuthenticationError(CersGroupsError):
    """Cognito refused the credential or the sign-in could not complete.

    ``reason`` is a stable code for callers and alerts: ``wrong-password``, ``user-not-found``,
    ``user-not-confirmed``, ``password-reset-required``, ``new-password-required``,
    ``client-misconfigured``, ``throttled``, ``unreachable`` or ``unexpected-response``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """Cognito's SECRET_HASH: base64 HMAC-SHA256 of username + client id, keyed by the secret."""
    digest = hmac.new(
        client_secret.encode("utf-8"),
        (username + client_id).encode("utf-8"),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def read_credentials(secret_id: str, *, force_fetch: bool = False) -> CersCredentials:
    """Load and check the district's CERS credential from Secrets Manager.

    The value is cached in the container for ``SECRET_MAX_AGE_SECONDS``; pass
    ``force_fetch=True`` after a rejected sign-in to pick up a credential updated meanwhile.

    Raises
    ------
    ConfigurationError
        The secret is missing, unreadable, not JSON, or lacks a required field. The message names
        the secret and the expected shape, never the value.
    """
    value = _fetch_secret(secret_id, force_fetch)

    if not isinstance(value, dict):
        raise ConfigurationError(f"Secret {secret_id} must be {CREDENTIAL_SHAPE}.")

    try:
        credentials = CersCredentials.model_validate(value)
    except ValidationError as exc:
        # Only field names and rule kinds: the pydantic text would echo the input values.
        raise ConfigurationError(
            f"Secret {secret_id} has missing or invalid fields ({_problem_fields(exc)}); "
            f"it must be {CREDENTIAL_SHAPE}."
        ) from None

    if any(v.startswith(SECRET_PLACEHOLDER) for v in (credentials.username, credentials.client_id)):
        raise ConfigurationError(
            f"Secret {secret_id} still holds the placeholder the stack created. Put the district's"
            f" CERS credential in it with put-secret-value; it must be {CREDENTIAL_SHAPE}."
        )

    credentials._source = f"secret {secret_id}"
    return credentials


def _fetch_secret(secret_id: str, force_fetch: bool) -> object:
    try:
        return parameters.get_secret(
            secret_id,
            transform="json",
            max_age=SECRET_MAX_AGE_SECONDS,
            force_fetch=force_fetch,
        )
    except TransformParameterError:
        raise ConfigurationError(
            f"Secret {secret_id} is not valid JSON; it must be {CREDENTIAL_SHAPE}."
        ) from None
    except GetParameterError as exc:
        raise ConfigurationError(
            f"Secret {secret_id} could not be read ({_secret_read_problem(exc)}); create it "
            f"as {CREDENTIAL_SHAPE} and let this function read it."
        ) from exc


def _secret_read_problem(exc: GetParameterError) -> str:
    """Powertools flattens the SDK error into text; its cause still carries the error code."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ClientError):
        return cause.response.get("Error", {}).get("Code", "ClientError")
    return "Secrets Manager error"


def _problem_fields(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "value"
        problems.append(f"{field}: {error['type']}")
    return ", ".join(problems)


def authenticate(credentials: CersCredentials) -> str:
    """Sign in and return the token CERS expects as the bearer (``token_use`` in the secret)."""
    return sign_in(credentials).bearer(credentials.token_use)


def sign_in(credentials: CersCredentials) -> CognitoTokens:
    """Sign in with USER_PASSWORD_AUTH; the ID, access and refresh tokens.

    Challenges are never answered: a person has to fix the login in TOMS.

    Raises
    ------
    AuthenticationError
        With a stable ``reason`` code and a message a district IT person can act on.
    """
    parameters_ = {
        "USERNAME": credentials.username,
        "PASSWORD": credentials.password.get_secret_value(),
    }
    return _initiate_auth(credentials, "USER_PASSWORD_AUTH", parameters_)


def refresh(credentials: CersCredentials, refresh_token: str) -> CognitoTokens:
    """New ID and access tokens from a refresh token (REFRESH_TOKEN_AUTH); no password sent.

    A refresh token that expired or was revoked gives ``reason="wrong-password"``, as Cognito
    answers NotAuthorizedException; the caller then signs in again.
    """
    tokens = _initiate_auth(
        credentials,
        "REFRESH_TOKEN_AUTH",
        {"REFRESH_TOKEN": refresh_token, "USERNAME": credentials.username},
    )
    # Cognito does not send the refresh token again; it stays valid until its own expiry.
    return CognitoTokens(
        tokens.id_token,
        tokens.access_token,
        tokens.refresh_token or refresh_token,
        tokens.expires_in,
    )


def _initiate_auth(
    credentials: CersCredentials, flow: str, auth_parameters: dict[str, str]
) -> CognitoTokens:
    if credentials.client_secret is not None:
        auth_parameters["SECRET_HASH"] = secret_hash(
            credentials.username,
            credentials.client_id,
            credentials.client_secret.get_secret_value(),
        )

    client = boto3.client(
        "cognito-idp",
        region_name=credentials.region,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": SIGN_IN_ATTEMPTS},
            **_COGNITO_TIMEOUTS,
        ),
    )
    if plain_http_refused(client.meta.endpoint_url):
        raise AuthenticationError(
            f"Cognito's endpoint {client.meta.endpoint_url} is plain http; the password is sent "
            "only over https. Remove AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER or set it to an "
            "https URL.",
            reason="client-misconfigured",
        )
    try:
        response = client.initiate_auth(
            AuthFlow=flow, ClientId=credentials.client_id, AuthParameters=auth_parameters
        )
    except ClientError as exc:
        raise _client_error(exc, credentials) from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        raise AuthenticationError(
            f"Could not reach Cognito in region {credentials.region} to sign in with "
            f"{credentials.source}; check the region in the secret and the function's network "
            "access, then retry.",
            reason="unreachable",
        ) from exc
    except BotoCoreError as exc:
        raise AuthenticationError(
            f"Signing in to Cognito with {credentials.source} failed ({type(exc).__name__}); "
            "check the region and client_id in the secret.",
            reason="client-misconfigured",
        ) from None  # parameter errors may quote request values

    return _tokens_from(response, credentials)


def _tokens_from(response: dict, credentials: CersCredentials) -> CognitoTokens:
    challenge = response.get("ChallengeName")
    if challenge:
        raise AuthenticationError(
            _challenge_message(challenge, credentials), reason="new-password-required"
        )

    result = response.get("AuthenticationResult", {})
    missing = [name for name in _TOKEN_FIELD.values() if not result.get(name)]
    if missing:
        raise AuthenticationError(
            f"Cognito signed in {credentials.source} but returned no {' or '.join(missing)}; "
            "check client_id in the secret against the values CERS published.",
            reason="unexpected-response",
        )
    return CognitoTokens(
        id_token=result["IdToken"],
        access_token=result["AccessToken"],
        refresh_token=result.get("RefreshToken"),
        expires_in=int(result.get("ExpiresIn", 3600)),
    )


def _challenge_message(challenge: str, credentials: CersCredentials) -> str:
    if challenge == "NEW_PASSWORD_REQUIRED":
        return (
            f"CERS requires a new password for the login in {credentials.source}; "
            "generate a new credential in TOMS and update the secret."
        )
    return (
        f"Cognito asked the login in {credentials.source} to answer a {challenge} challenge, "
        "which this product does not do; use a TOMS credential that signs in with username and "
        "password alone and update the secret."
    )


# Cognito error code -> (reason, what the district should do). ``{source}`` names the secret.
_COGNITO_ERRORS = {
    "NotAuthorizedException": (
        "wrong-password",
        "CERS rejected the username or password in {source} (or the login is disabled or "
        "locked after too many attempts); generate a new credential in TOMS and update the "
        "secret.",
    ),
    "UserNotFoundException": (
        "user-not-found",
        "CERS does not know the username in {source}; check the username, or generate a new "
        "credential in TOMS and update the secret.",
    ),
    "UserNotConfirmedException": (
        "user-not-confirmed",
        "The CERS login in {source} is not confirmed yet; finish setting it up in TOMS.",
    ),
    "PasswordResetRequiredException": (
        "password-reset-required",
        "CERS requires a password reset for the login in {source}; generate a new credential "
        "in TOMS and update the secret.",
    ),
    "InvalidParameterException": (
        "client-misconfigured",
        "Cognito refused the sign-in request for {source}; check client_id, client_secret and "
        "region in the secret against the values CERS published.",
    ),
    "ResourceNotFoundException": (
        "client-misconfigured",
        "Cognito does not know the client_id in {source} in that region; check client_id and "
        "region in the secret against the values CERS published.",
    ),
    "InvalidUserPoolConfigurationException": (
        "client-misconfigured",
        "The CERS sign-in service is not set up for username and password sign-in "
        "({source}); contact CERS support.",
    ),
    "TooManyRequestsException": (
        "throttled",
        "Cognito kept refusing sign-in requests as too many (throttling) for {source}; the "
        "credential itself was not refused.",
    ),
    "LimitExceededException": (
        "throttled",
        "Cognito kept refusing sign-in requests as too many (throttling) for {source}; the "
        "credential itself was not refused.",
    ),
}
# Cognito's InvalidParameterException when the app client does not allow this sign-in flow.
_FLOW_NOT_ENABLED = (
    "client-misconfigured",
    "The Cognito app client in {source} does not allow username and password sign-in "
    "(USER_PASSWORD_AUTH); check client_id against the values CERS published, or ask CERS "
    "support to enable that flow for it.",
)


def _client_error(exc: ClientError, credentials: CersCredentials) -> AuthenticationError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    if code == "InvalidParameterException" and "flow not enabled" in error.get("Message", ""):
        reason, message = _FLOW_NOT_ENABLED
        return AuthenticationError(message.format(source=credentials.source), reason=reason)
    if code in _COGNITO_ERRORS:
        reason, message = _COGNITO_ERRORS[code]
        return AuthenticationError(message.format(source=credentials.source), reason=reason)

    return AuthenticationError(
        f"Cognito failed the sign-in with {credentials.source} ({code or 'no error code'}); "
        "retry later, and contact CERS support if it persists.",
        reason="unexpected-response",
    )
