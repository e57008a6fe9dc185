"""Cognito's API on 127.0.0.1, passed through to moto's, with a log of calls and fault switches.

moto answers sign-ins faithfully but never throttles, never asks for a password reset and allows
every auth flow. Pointing boto3's Cognito client here (the environment variable
``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER``) lets tests and the demo see every
``InitiateAuth`` the product makes and make the next ones fail the way Cognito does, over real
HTTP::

    proxy.inject("throttled", times=2)
    ...
    assert proxy.initiate_auth_calls() == 1
"""

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from local_stack.loopback import LoopbackServer, forward

CognitoFault = Literal["throttled", "password-reset-required", "flow-not-enabled", "reset"]

# Cognito's error answers (JSON 1.1 protocol): HTTP status, __type, message.
_ERRORS = {
    "throttled": (400, "TooManyRequestsException", "Rate exceeded"),
    "password-reset-required": (400, "PasswordResetRequiredException", "Password reset required"),
    "flow-not-enabled": (
        400,
        "InvalidParameterException",
        "USER_PASSWORD_AUTH flow not enabled for this client",
    ),
}
_RETURNED_HEADERS = ("Content-Type", "x-amzn-RequestId", "x-amzn-ErrorType")


@dataclass(frozen=True)
class CognitoCall:
    operation: str  # InitiateAuth, CreateUserPool, ...
    auth_flow: str | None  # for InitiateAuth
    fault: str | None  # the fault it got, if any
    username: str | None = None  # AuthParameters.USERNAME (a refresh need not carry it)


class CognitoProxy:
    """Serves on a free loopback port in a daemon thread; ``url`` once started."""

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._faults: list[tuple[CognitoFault, str | None]] = []
        self._calls: list[CognitoCall] = []
        self._server = LoopbackServer(self._wsgi, "cognito-proxy")
        self.url = ""

    def start(self) -> str:
        self.url = self._server.start()
        return self.url

    def stop(self) -> None:
        self._server.stop()

    def inject(self, fault: CognitoFault, times: int = 1, auth_flow: str | None = None) -> None:
        """Make the next ``times`` InitiateAuth calls (of ``auth_flow``, if given) fail."""
        with self._lock:
            self._faults.extend([(fault, auth_flow)] * times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def calls(self) -> list[CognitoCall]:
        with self._lock:
            return list(self._calls)

    def initiate_auth_calls(self, auth_flow: str | None = None) -> int:
        """How many InitiateAuth calls reached Cognito (or a fault), of ``auth_flow`` if given."""
        return sum(
            1
            for call in self.calls
            if call.operation == "InitiateAuth" and auth_flow in (None, call.auth_flow)
        )

    def initiate_auth_by_username(self) -> Counter:
        """InitiateAuth calls per signed-in username (None: a call that named no user)."""
        return Counter(call.username for call in self.calls if call.operation == "InitiateAuth")

    def _wsgi(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data()
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        flow, username = _auth_flow(body) if operation == "InitiateAuth" else (None, None)
        fault = self._next_fault(flow) if operation == "InitiateAuth" else None
        with self._lock:
            self._calls.append(CognitoCall(operation, flow, fault, username))

        if fault == "reset":
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                connection.shutdown(socket.SHUT_RDWR)
            start_response("500 Internal Server Error", [])
            return []
        response = _error(fault) if fault else self._forward(request, body)
        return response(environ, start_response)

    def _next_fault(self, flow: str | None) -> CognitoFault | None:
        with self._lock:
            for index, (_, only_flow) in enumerate(self._faults):
                if only_flow in (None, flow):
                    return self._faults.pop(index)[0]
        return None

    def _forward(self, request: Request, body: bytes) -> Response:
        return forward(self._upstream, request, body, _RETURNED_HEADERS)


def _auth_flow(body: bytes) -> tuple[str | None, str | None]:
    """The InitiateAuth request's flow and the username it names, where it names one."""
    try:
        request = json.loads(body)
        return request.get("AuthFlow"), (request.get("AuthParameters") or {}).get("USERNAME")
    except (ValueError, AttributeError):
        return None, None


def _error(fault: str) -> Response:
    status, error_type, message = _ERRORS[fault]
    response = Response(
        json.dumps({"__type": error_type, "message": message}),
        status=status,
        mimetype="application/x-amz-json-1.1",
    )
    response.headers["x-amzn-ErrorType"] = error_type
    return response
