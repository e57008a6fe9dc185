"""HTTP adapter for the CERS groups import service.

``CersClient`` posts one roster file as ``multipart/form-data`` and reads the import resource CERS
answers with. The file is streamed, never held in memory. A POST is retried only while nothing
of it can have reached CERS (the connection was never made): once any byte of the body may have
left, the file may already be recorded there, so the caller gets ``reason="outcome-unknown"`` and
must look the import up by batch before re-sending. Queries (GET) are safe to repeat and are
retried on connection failures, timeouts, 429 and 5xx, with backoff and a cap. Messages name the
endpoint and the HTTP status, never the token or file content.
"""

import logging
import posixpath
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, ValidationError
from requests import Response
from requests_toolbelt import MultipartEncoder
from urllib3.exceptions import MaxRetryError, NewConnectionError

from cers_groups.errors import CersGroupsError, ConfigurationError
from cers_groups.transport import VerifiedSession, plain_http_refused

DEFAULT_ENDPOINT = "https://groups.import.smarterbalanced.org/groups/imports/"

_COLLECTION_SUFFIX = "/groups/imports"
# Statuses after which a query is simply asked again.
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 30.0

logger = logging.getLogger(__name__)


class ImportResource(BaseModel):
    """An import as CERS reports it. HTTP 202 only means "received": ``status`` decides."""

    model_config = ConfigDict(extra="ignore")

    id: int
    status: str
    digest: str | None = None
    message: str | None = None
    batch: str | None = None
    created: datetime | None = None
    updated: datetime | None = None


class CersError(CersGroupsError):
    """CERS could not be reached or answered something other than an import resource.

    ``reason`` is a stable code: ``unreachable``, ``outcome-unknown``, ``unauthorized``,
    ``forbidden``, ``not-found``, ``throttled``, ``too-large``, ``server-error``,
    ``unexpected-response`` or ``size-mismatch``. ``status`` is the HTTP status when CERS
    answered; ``retry_after`` the seconds a 429 or 503 asked to wait, when it said; ``detail``
    the ``error_description`` of a 401 body (server text, never request content).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status: int | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.detail = detail

    @property
    def expired(self) -> bool:
        """A 401 that says the token expired (rather than that it is the wrong kind)."""
        return self.reason == "unauthorized" and "expired" in (self.detail or "").lower()


class CersClient:
    """Talks to one CERS groups import endpoint with one bearer token.

    Parameters
    ----------
    endpoint:
        The ``.../groups/imports/`` URL that receives uploads. Status queries and the user probe
        use the same service root.
    token:
        The Cognito token sent as ``Authorization: Bearer``.
    connect_timeout, read_timeout:
        Seconds, applied to every request. Validation runs inside the upload request, so large
        files need a long read timeout.
    connect_retries, retry_backoff:
        How often a failure to connect (and, for queries, a timeout, 429 or 5xx) is retried,
        and the first wait in seconds (doubling, at most ``MAX_RETRY_WAIT``).
    """

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        connect_retries: int = 3,
        retry_backoff: float = 1.0,
    ) -> None:
        self._endpoint = _checked_endpoint(endpoint)
        self._collection_url, self._root_url = _service_urls(self._endpoint)
        self._timeout = (connect_timeout, read_timeout)
        self._connect_retries = connect_retries
        self._retry_backoff = retry_backoff
        self._session = VerifiedSession()
        self._session.headers["Authorization"] = f"Bearer {token}"

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "CersClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit_roster(self, filename: str, stream: BinaryIO, size: int) -> ImportResource:
        """Upload ``size`` bytes read from ``stream`` as the file ``filename``.

        ``filename``'s base name becomes the import's batch. ``stream`` needs only ``read(n)``
        (a botocore ``StreamingBody`` will do).

        Raises
        ------
        CersError
            See the class for the reasons. ``outcome-unknown`` means CERS may hold the file.
        """
        batch = posixpath.basename(filename.replace("\\", "/"))
        body = _SizedStream(stream, size)

        def encoded() -> MultipartEncoder:
            return MultipartEncoder(fields={"file": (batch, body, "text/csv")})

        response = self._post(encoded, body)
        if response.status_code in (200, 201, 202):
            return _parse_import(_json(response, self._endpoint), self._endpoint)

        raise _status_error(response, self._endpoint, upload=True)

    def find_imports(
        self,
        batch: str | None = None,
        *,
        status: str | None = None,
        creator: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[ImportResource]:
        """Imports CERS holds for these filters, oldest first (at least one filter is needed).

        ``after`` and ``before`` take what CERS takes: an ISO instant, ``now`` or an ISO
        duration such as ``-PT1H``.
        """
        filters = {
            "batch": batch,
            "status": status,
            "creator": creator,
            "after": after,
            "before": before,
            "limit": limit,
        }
        params = {name: value for name, value in filters.items() if value is not None}
        if not params:
            raise ValueError("find_imports needs at least one filter")

        response = self._get(self._collection_url, params)
        if response.status_code != 200:
            raise _status_error(response, self._collection_url, upload=False)

        items = _json(response, self._collection_url)
        if not isinstance(items, list):
            raise _malformed(self._collection_url)
        return [_parse_import(item, self._collection_url) for item in items]

    def get_import(self, import_id: int) -> ImportResource:
        """``GET /imports/{id}``. Needs ASMTDATALOAD: a groups-only login gets ``forbidden``."""
        url = f"{self._root_url}/imports/{import_id}"
        response = self._get(url, None)
        if response.status_code != 200:
            raise _status_error(response, url, upload=False)
        return _parse_import(_json(response, url), url)

    def current_user(self) -> dict[str, Any]:
        """The user CERS sees behind the token: a cheap probe of the token and its permissions."""
        url = f"{self._root_url}/imports/user"
        response = self._get(url, None)
        if response.status_code != 200:
            raise _status_error(response, url, upload=False)

        user = _json(response, url)
        if not isinstance(user, dict):
            raise _malformed(url)
        return user

    def _post(self, encoded: Callable[[], MultipartEncoder], body: "_SizedStream") -> Response:
        """POST the roster, retrying only while no byte of it has left this process."""
        attempt = 0
        while True:
            encoder = encoded()
            headers = {"Content-Type": encoder.content_type, "Content-Length": str(encoder.len)}
            try:
                return self._session.post(
                    self._endpoint,
                    data=encoder,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                if body.consumed or not _never_connected(exc):
                    raise _outcome_unknown(exc, self._endpoint) from exc
                self._wait_or_give_up(exc, attempt, self._endpoint)
            attempt += 1

    def _get(self, url: str, params: dict[str, Any] | None) -> Response:
        """A query, asked again after a failure that says nothing about the answer."""
        attempt = 0
        while True:
            try:
                response = self._session.get(
                    url, params=params, timeout=self._timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                if attempt >= self._connect_retries or isinstance(exc, _NOT_RETRIED):
                    raise CersError(
                        f"CERS at {url} did not answer ({type(exc).__name__}) after "
                        f"{attempt + 1} attempt(s); check the CERS endpoint setting and the "
                        "function's network access.",
                        reason="unreachable",
                    ) from exc
                self._pause(attempt, type(exc).__name__, None)
            else:
                if response.status_code not in _RETRIED_STATUSES:
                    return response
                if attempt >= self._connect_retries:
                    return response
                self._pause(attempt, f"HTTP {response.status_code}", _retry_after(response))
            attempt += 1

    def _wait_or_give_up(self, exc: requests.RequestException, attempt: int, url: str) -> None:
        if attempt >= self._connect_retries or isinstance(exc, requests.exceptions.SSLError):
            raise CersError(
                f"Could not connect to CERS at {url} ({type(exc).__name__}) after "
                f"{attempt + 1} attempt(s); check the CERS endpoint setting and the function's "
                "network access. Nothing was sent.",
                reason="unreachable",
            ) from exc
        self._pause(attempt, type(exc).__name__, None)

    def _pause(self, attempt: int, problem: str, asked: float | None) -> None:
        delay = retry_wait(self._retry_backoff, attempt, asked)
        logger.warning(
            "CERS request failed; retrying",
            extra={"attempt": attempt + 1, "delay_seconds": delay, "problem": problem},
        )
        time.sleep(delay)


def retry_wait(first: float, attempt: int, asked: float | None = None) -> float:
    """Seconds before try ``attempt + 2``: doubling from ``first``, or what the server asked,
    never more than ``MAX_RETRY_WAIT``."""
    delay = asked if asked is not None else first * 2**attempt
    return max(0.0, min(delay, MAX_RETRY_WAIT))


_NOT_RETRIED = (requests.exceptions.SSLError, requests.exceptions.InvalidURL)


class _SizedStream:
    """A read-only view of exactly ``size`` bytes of a stream that cannot tell its own length.

    The multipart encoder sizes the body from ``len`` and keeps reading while it is positive,
    so a stream that ends early must fail loudly rather than stall the upload.
    """

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._remaining = size
        self.consumed = 0

    @property
    def len(self) -> int:
        return self._remaining

    def read(self, amount: int | None = -1) -> bytes:
        if self._remaining <= 0:
            return b""

        if amount is None or amount < 0 or amount > self._remaining:
            amount = self._remaining
        chunk = self._stream.read(amount)
        if not chunk:
            raise CersError(
                f"The roster ended {self._remaining} bytes before the size given for it; the "
                "file changed while it was being sent. CERS did not receive a complete file.",
                reason="size-mismatch",
            )

        self._remaining -= len(chunk)
        self.consumed += len(chunk)
        return chunk


def _checked_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"The CERS endpoint {endpoint!r} is not an http(s) URL; set it to the groups import "
            f"URL, for example {DEFAULT_ENDPOINT}"
        )
    if plain_http_refused(endpoint):
        raise ConfigurationError(
            f"The CERS endpoint {endpoint!r} is plain http; the sign-in token must travel over "
            f"https only. Set it to the https URL, for example {DEFAULT_ENDPOINT}"
        )
    return endpoint


def _service_urls(endpoint: str) -> tuple[str, str]:
    """The imports collection (for queries) and the service root (for ``/imports/user``)."""
    collection = endpoint.rstrip("/")
    if collection.endswith(_COLLECTION_SUFFIX):
        return collection, collection.removesuffix(_COLLECTION_SUFFIX)

    parts = urlsplit(endpoint)
    return collection, f"{parts.scheme}://{parts.netloc}"


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the request failed before a connection existed, so nothing was sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False

    cause = exc.args[0]
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _outcome_unknown(exc: requests.RequestException, url: str) -> CersError:
    return CersError(
        f"The upload to CERS at {url} broke off after the file was sent "
        f"({type(exc).__name__}); CERS may have recorded it. Look the import up by batch "
        "before sending the file again.",
        reason="outcome-unknown",
    )


def _status_error(response: Response, url: str, *, upload: bool) -> CersError:
    status = response.status_code
    if status == 504 and upload:
        reason, advice = _GATEWAY_TIMEOUT_ON_UPLOAD
    elif status == 404 and not upload:
        reason, advice = _NOT_FOUND
    elif status in _STATUS_ADVICE:
        reason, advice = _STATUS_ADVICE[status]
    elif status >= 500:
        reason, advice = _SERVER_ERROR
    else:
        reason, advice = _UNEXPECTED

    return CersError(
        f"CERS at {url} answered HTTP {status}: {advice}.",
        reason=reason,
        status=status,
        retry_after=_retry_after(response),
        detail=_error_description(response) if status == 401 else None,
    )


def _error_description(response: Response) -> str | None:
    """The OAuth2 ``error_description`` of a refusal, cut short."""
    try:
        body = response.json()
    except ValueError:
        return None
    description = body.get("error_description") if isinstance(body, dict) else None
    return str(description)[:200] if description else None


def _retry_after(response: Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for (its date form is ignored)."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# HTTP status -> (reason, what to do), completing "CERS at <url> answered HTTP <status>: ...".
_STATUS_ADVICE = {
    401: (
        "unauthorized",
        "it refused the sign-in token; check that the credential in TOMS is current and whether "
        "CERS expects the id or the access token (token_use in the secret)",
    ),
    403: (
        "forbidden",
        "the login may not write student groups (PERM_GROUP_WRITE); ask the LEA CAASPP "
        "coordinator to grant group administration to the login in TOMS",
    ),
    429: ("throttled", "CERS asked for fewer requests (throttling)"),
    413: (
        "too-large",
        "the file is larger than CERS or a proxy in front of it accepts; split the roster",
    ),
}
# A gateway in front of CERS may time out while CERS itself goes on validating the upload.
_GATEWAY_TIMEOUT_ON_UPLOAD = (
    "outcome-unknown",
    "a gateway stopped waiting while CERS may still be validating the file; look the import up "
    "by batch before sending the file again",
)
_SERVER_ERROR = ("server-error", "CERS (or a gateway in front of it) had an internal error")
_NOT_FOUND = ("not-found", "CERS has no such import")
_UNEXPECTED = ("unexpected-response", "check the CERS endpoint setting")


def _json(response: Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _malformed(url) from None


def _parse_import(item: object, url: str) -> ImportResource:
    try:
        return ImportResource.model_validate(item)
    except ValidationError:
        # The validation text would quote the body, which may carry CSV content.
        raise _malformed(url) from None


def _malformed(url: str) -> CersError:
    return CersError(
        f"CERS at {url} answered with a body that is not the expected JSON; check the CERS "
        "endpoint setting.",
        reason="unexpected-response",
    )
