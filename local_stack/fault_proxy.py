"""DynamoDB's API on 127.0.0.1, passed through to moto's, answering chosen requests with throttling.

moto never throttles. Pointing boto3's DynamoDB clients here (``AWS_ENDPOINT_URL_DYNAMODB``, which
child processes inherit too) makes chosen requests fail the way DynamoDB fails them, over real
HTTP: status 400 with DynamoDB's JSON error body, which botocore retries a few times by itself
and then raises as a ``ClientError``::

    proxy = DynamoDBFaultProxy(moto_url)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.start()
    proxy.inject("throughput", times=3, operation="UpdateItem", where=claims_accepted)
    proxy.throttle_share(0.3, seed=7)  # about 30% of every request from now on

A throttled request never reaches moto, as a throttled request changes nothing in DynamoDB; a
"lost" one does, and only its answer is replaced.
"""

import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from local_stack.loopback import LoopbackServer, forward

# "lost": the request is applied, then answered with a 500, as when DynamoDB's answer is lost
# on the way back; botocore sends it again, and a conditional write then finds it already done.
DynamoDBFault = Literal["throughput", "throttling", "lost"]

# DynamoDB's error answers (JSON 1.0 protocol): __type (botocore reads the part after '#').
_ERRORS = {
    "throughput": (
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider "
        "increasing your provisioning level with the UpdateTable API.",
    ),
    "throttling": (
        "com.amazon.coral.availability#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "lost": (
        "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "Internal server error",
    ),
}
_RETURNED_HEADERS = ("Content-Type", "x-amzn-RequestId", "x-amz-crc32")


@dataclass
class _Rule:
    fault: DynamoDBFault
    remaining: int | None  # None: no limit (a share)
    operation: str | None
    where: Callable[[dict], bool] | None
    share: float = 1.0


@dataclass(frozen=True)
class DynamoDBCall:
    operation: str  # GetItem, UpdateItem, ...
    table: str | None
    fault: str | None  # the fault it got, if any


class DynamoDBFaultProxy:
    """Serves on a free loopback port in a daemon thread; ``url`` once started."""

    def __init__(self, upstream: str, seed: int = 0) -> None:
        self._upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._calls: list[DynamoDBCall] = []
        self._random = random.Random(seed)  # noqa: S311 - picks requests to fail, not secrets
        self._server = LoopbackServer(self._wsgi, "dynamodb-fault-proxy")
        self.url = ""

    def start(self) -> str:
        self.url = self._server.start()
        return self.url

    def stop(self) -> None:
        self._server.stop()

    def inject(
        self,
        fault: DynamoDBFault = "throughput",
        times: int = 1,
        *,
        operation: str | None = None,
        where: Callable[[dict], bool] | None = None,
    ) -> None:
        """Fail the next ``times`` requests of ``operation`` (any, if None) whose JSON body
        satisfies ``where`` (any, if None)."""
        with self._lock:
            self._rules.append(_Rule(fault, times, operation, where))

    def throttle_share(
        self, share: float, fault: DynamoDBFault = "throttling", *, operation: str | None = None
    ) -> None:
        """From now on fail about ``share`` of the requests (of ``operation``), picked by the
        proxy's seeded random numbers, until ``clear_faults``."""
        with self._lock:
            self._rules.append(_Rule(fault, None, operation, None, share))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def calls(self) -> list[DynamoDBCall]:
        with self._lock:
            return list(self._calls)

    def faults_served(self, operation: str | None = None) -> int:
        return sum(1 for call in self.calls if call.fault and operation in (None, call.operation))

    def _wsgi(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data()
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        document = _json(body)
        fault = self._next_fault(operation, document)
        with self._lock:
            self._calls.append(DynamoDBCall(operation, document.get("TableName"), fault))
        response = self._forward(request, body) if fault in (None, "lost") else None
        return (_error(fault) if fault else response)(environ, start_response)

    def _next_fault(self, operation: str, document: dict) -> DynamoDBFault | None:
        with self._lock:
            for rule in self._rules:
                if rule.operation not in (None, operation):
                    continue
                if rule.where is not None and not rule.where(document):
                    continue
                if rule.remaining is None:
                    if self._random.random() < rule.share:
                        return rule.fault
                    continue
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule.fault
        return None

    def _forward(self, request: Request, body: bytes) -> Response:
        return forward(self._upstream, request, body, _RETURNED_HEADERS)


def _json(body: bytes) -> dict:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _error(fault: DynamoDBFault) -> Response:
    error_type, message = _ERRORS[fault]
    response = Response(
        json.dumps({"__type": error_type, "message": message}),
        status=500 if fault == "lost" else 400,
        mimetype="application/x-amz-json-1.0",
    )
    response.headers["x-amzn-RequestId"] = "THROTTLED0000000000000000000000000000000000000000000"
    return response
