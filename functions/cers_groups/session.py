"""CERS calls for one district with its shared Cognito tokens.

Which token CERS wants as the bearer is not published, so each district's credential names one
(``token_use``) and ``CersSession`` learns the rest: when CERS answers 401 to a kind of token it
has not accepted before, the other kind is tried once, and whichever CERS accepts is remembered
in the tokens table for every later call. A 401 to tokens CERS did accept before means they
expired or were revoked early: they are renewed once (refresh token, else a fresh sign-in) and
the call is made again.
"""

from collections.abc import Callable
from typing import TypeVar

from cers_groups.cers import CersClient, CersError
from cers_groups.observability import logger
from cers_groups.tenants import District
from cers_groups.tokens import BearerTokens, TokenCache

T = TypeVar("T")

# Queries answer quickly; only uploads need the long read timeout.
QUERY_READ_TIMEOUT = 60.0


class CersSession:
    """Parameters are the district, its token cache and the HTTP timeouts and retry wait."""

    def __init__(
        self,
        district: District,
        cache: TokenCache,
        *,
        connect_timeout: float,
        retry_delay: float,
    ) -> None:
        self.district = district
        self._cache = cache
        self._connect_timeout = connect_timeout
        self._retry_delay = retry_delay
        self._refusal: CersError | None = None

    def call(self, operation: Callable[[CersClient], T], read_timeout: float = QUERY_READ_TIMEOUT):
        """``operation(client)`` with a client carrying an accepted bearer token.

        ``operation`` may run more than once (only after CERS answered 401, which it does
        before reading a request), so an upload must open its stream inside it.

        Raises
        ------
        CersError
            ``unauthorized`` when CERS refused every token tried; any other error as it came.
        cognito.AuthenticationError, ConfigurationError
            From signing in.
        """
        tokens = self._cache.tokens(self.district)
        first = [tokens.preferred] if tokens.confirmed else [tokens.preferred, tokens.other]
        accepted, result = self._first_accepted(first, tokens, operation, read_timeout)
        if accepted:
            return result

        renewed = self._cache.tokens(self.district, stale=tokens)
        second = [renewed.preferred, renewed.other] if tokens.confirmed else [renewed.preferred]
        accepted, result = self._first_accepted(second, renewed, operation, read_timeout)
        if accepted:
            return result
        raise self._refusal

    def _first_accepted(self, kinds, tokens: BearerTokens, operation, read_timeout):
        for kind in kinds:
            client = CersClient(
                self.district.cers_endpoint,
                tokens.bearer(kind),
                connect_timeout=self._connect_timeout,
                read_timeout=read_timeout,
                retry_backoff=self._retry_delay,
            )
            try:
                with client:
                    result = operation(client)
            except CersError as error:
                if error.reason != "unauthorized":
                    raise
                self._refusal = error
                logger.info("CERS refused the token", token_use=kind, detail=error.detail)
                if error.expired:
                    break  # the same kind, renewed, is the next thing to try
                continue
            if kind != tokens.preferred or not tokens.confirmed:
                self._cache.remember_bearer(self.district.id, kind)
                logger.info("CERS accepted the token", token_use=kind)
            return True, result
        return False, None
