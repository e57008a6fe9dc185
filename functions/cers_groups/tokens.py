"""One Cognito sign-in per district, shared by every Lambda container through a DynamoDB table.

A district's item holds its current ID, access and refresh tokens and when they expire. Any
container that needs a bearer token reads the item; only when the tokens are within
``REFRESH_MARGIN`` of expiry (or CERS refused them) does one container take a short lease on
the item and renew them: with ``REFRESH_TOKEN_AUTH`` first, with a fresh password sign-in when
that fails. Every other container waits for the lease holder and then reads its tokens. So a
burst of uploads from one district costs one sign-in, whichever containers run them.

The item also remembers which token (``id`` or ``access``) CERS accepted as the bearer.

Tokens are credentials: they are never logged, and the item expires (DynamoDB TTL) when its
refresh token would.
"""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from cers_groups import aws_clients, cognito
from cers_groups.errors import ConfigurationError
from cers_groups.observability import logger
from cers_groups.resources import TOKEN_KEY, TOKEN_TTL_ATTRIBUTE
from cers_groups.tenants import District

# Renew this many seconds before the ID and access tokens expire; an upload can be long.
REFRESH_MARGIN = 300
# A container renewing the tokens holds the item this long at most (a sign-in takes seconds).
LEASE_SECONDS = 30
# Cognito's default refresh token lifetime; the item is deleted after it.
REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600
# How long a container waits for another one's renewal, and how often it looks.
WAIT_FOR_LEASE = 40.0
_LOOK_EVERY = 0.2

TOKEN_USES = ("id", "access")


@dataclass(frozen=True)
class BearerTokens:
    """A district's current tokens and which one to send first."""

    id_token: str = field(repr=False)
    access_token: str = field(repr=False)
    # The kind CERS accepted before, or else the credential's token_use.
    preferred: str
    # True when CERS has accepted ``preferred`` before; False while it is only configured.
    confirmed: bool

    def bearer(self, token_use: str) -> str:
        return self.id_token if token_use == "id" else self.access_token  # noqa: S105 - a token kind

    @property
    def other(self) -> str:
        return "access" if self.preferred == "id" else "id"


class TokenCache:
    """The tokens table. ``clock`` returns epoch seconds (tests may move time)."""

    def __init__(self, table_name: str, clock: Callable[[], float] = time.time) -> None:
        if not table_name:
            raise ConfigurationError(
                "environment variable TOKENS_TABLE is not set; the deployment sets it"
            )
        self._table = aws_clients.table(table_name)
        self._clock = clock

    def tokens(self, district: District, *, stale: BearerTokens | None = None) -> BearerTokens:
        """Tokens valid for at least ``REFRESH_MARGIN`` more seconds.

        Pass the tokens CERS just refused as ``stale`` to have them renewed (once, whichever
        container notices first).

        Raises
        ------
        cognito.AuthenticationError, ConfigurationError
            From reading the credential or signing in.
        """
        credentials = cognito.read_credentials(district.secret_name)
        login = _login_key(credentials)
        give_up_at = self._clock() + WAIT_FOR_LEASE
        while True:
            item = self._get(district.id)
            if self._usable(item, login, stale):
                return _bearer_tokens(item, credentials)
            if self._take_lease(district.id):
                return self._renew(district, credentials, login, stale)
            if self._clock() > give_up_at:
                raise cognito.AuthenticationError(
                    f"Another run kept renewing the CERS sign-in of district {district.id} for "
                    f"{WAIT_FOR_LEASE:.0f} seconds; it will be retried.",
                    reason="unreachable",
                )
            time.sleep(_LOOK_EVERY)

    def remember_bearer(self, district_id: str, token_use: str) -> None:
        """Record that CERS accepted this kind of token for the district."""
        self._table.update_item(
            Key={TOKEN_KEY: district_id},
            UpdateExpression="SET bearer = :bearer",
            ExpressionAttributeValues={":bearer": token_use},
        )

    def _renew(self, district: District, credentials, login: str, stale) -> BearerTokens:
        try:
            item = self._get(district.id)  # another container may have finished meanwhile
            if self._usable(item, login, stale):
                return _bearer_tokens(item, credentials)
            credentials, fresh, flow = self._sign_in(district, credentials, item, login)
            item = self._save(district.id, _login_key(credentials), fresh)
        finally:
            self._release_lease(district.id)
        logger.info("Signed in to CERS", district=district.id, flow=flow)
        return _bearer_tokens(item, credentials)

    def _sign_in(self, district: District, credentials, item, login: str):
        """Refresh when the item holds a refresh token for this login, else sign in."""
        refresh_token = (item or {}).get("refresh_token")
        if refresh_token and item.get("login") == login:
            try:
                return credentials, cognito.refresh(credentials, refresh_token), "refresh"
            except cognito.AuthenticationError as error:
                if error.reason != "wrong-password":
                    raise
                logger.info("Refresh token refused; signing in again", district=district.id)
        credentials, fresh = _password_sign_in(district, credentials)
        return credentials, fresh, "password"

    def _usable(self, item: dict | None, login: str, stale: BearerTokens | None) -> bool:
        if not item or item.get("login") != login or "id_token" not in item:
            return False
        if stale is not None and item["id_token"] == stale.id_token:
            return False
        return float(item["expires_at"]) - REFRESH_MARGIN > self._clock()

    def _get(self, district_id: str) -> dict[str, Any] | None:
        response = self._table.get_item(Key={TOKEN_KEY: district_id}, ConsistentRead=True)
        return response.get("Item")

    def _take_lease(self, district_id: str) -> bool:
        now = self._clock()
        try:
            self._table.update_item(
                Key={TOKEN_KEY: district_id},
                UpdateExpression="SET lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeValues={
                    ":until": _number(now + LEASE_SECONDS),
                    ":now": _number(now),
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _release_lease(self, district_id: str) -> None:
        self._table.update_item(Key={TOKEN_KEY: district_id}, UpdateExpression="REMOVE lease_until")

    def _save(self, district_id: str, login: str, fresh: cognito.CognitoTokens) -> dict:
        now = self._clock()
        fields = {
            "id_token": fresh.id_token,
            "access_token": fresh.access_token,
            "refresh_token": fresh.refresh_token,
            "login": login,
            "expires_at": _number(now + fresh.expires_in),
            "renewed_at": _number(now),
            TOKEN_TTL_ATTRIBUTE: int(now + REFRESH_TOKEN_LIFETIME),
        }
        names = {f"#f{index}": name for index, name in enumerate(fields)}
        values = {f":v{index}": value for index, value in enumerate(fields.values())}
        assignments = ", ".join(f"#f{index} = :v{index}" for index in range(len(fields)))
        response = self._table.update_item(
            Key={TOKEN_KEY: district_id},
            UpdateExpression=f"SET {assignments}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return response["Attributes"]


def _password_sign_in(district: District, credentials):
    """USER_PASSWORD_AUTH. After a refused password the secret is read once more, skipping the
    cache, in case someone has just put the corrected credential in it; never more, because
    repeated failures extend Cognito's lockout."""
    try:
        return credentials, cognito.sign_in(credentials)
    except cognito.AuthenticationError as error:
        if error.reason != "wrong-password":
            raise
        fresh = cognito.read_credentials(district.secret_name, force_fetch=True)
        if fresh == credentials:
            raise
        return fresh, cognito.sign_in(fresh)


def _bearer_tokens(item: dict[str, Any], credentials: cognito.CersCredentials) -> BearerTokens:
    remembered = item.get("bearer")
    return BearerTokens(
        id_token=item["id_token"],
        access_token=item["access_token"],
        preferred=remembered if remembered in TOKEN_USES else credentials.token_use,
        confirmed=remembered in TOKEN_USES,
    )


def _login_key(credentials: cognito.CersCredentials) -> str:
    """Which login the tokens belong to: a new username or app client means a new sign-in."""
    identity = f"{credentials.username}\n{credentials.client_id}\n{credentials.region}"
    return hashlib.sha256(identity.encode()).hexdigest()


def _number(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))
