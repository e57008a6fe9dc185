"""What the local stack's HTTP services share: a WSGI app served in a daemon thread, and the
pass-through of an AWS JSON API request to moto's server.

The CERS stand-in, the Cognito proxy and the DynamoDB fault proxy each serve one of these; the
two proxies forward what they do not fail to moto.
"""

import threading
from collections.abc import Callable, Iterable

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# What an AWS JSON request (DynamoDB, Cognito) needs to reach moto, and what its answer needs.
PASSED_HEADERS = ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date")


class LoopbackServer:
    """``app`` served on ``host`` (a free port when ``port`` is 0) in a daemon thread."""

    def __init__(self, app: Callable, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._name = name
        self._address = (host, port)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Start serving; the base URL (``http://host:port``)."""
        host, port = self._address
        self._server = make_server(
            host, port, self._app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one interval
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        return f"http://{host}:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None


def forward(upstream: str, request: Request, body: bytes, returned: Iterable[str]) -> Response:
    """POST the request on to ``upstream`` (moto); its answer, with the ``returned`` headers."""
    headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
    answer = requests.post(
        f"{upstream}{request.full_path.rstrip('?')}", data=body, headers=headers, timeout=30
    )
    response = Response(answer.content, status=answer.status_code)
    for name in returned:
        if name in answer.headers:
            response.headers[name] = answer.headers[name]
    return response


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log lines: tests and the demo own the terminal."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass
