"""boto3 clients and DynamoDB tables kept for the life of the process, as AWS advises for Lambda.

Creating a client costs tens of milliseconds of CPU (service model, endpoint rules, event
hooks); making one for every call cost a roster a dozen of them on its way through the
handlers. A client is kept per service and per AWS environment (the ``AWS_*`` variables: region,
credentials, endpoint URLs), so a process that points boto3 elsewhere, as the local stack and
the tests do, gets a new one. Clients are thread-safe; DynamoDB resources are not, so a table is
kept per thread as well.
"""

import os
import threading
from functools import lru_cache
from typing import Any

import boto3

# Services times AWS environments a process sees: a Lambda container one environment, a test
# session one per local stack.
_KEPT = 64


def client(service: str) -> Any:
    """The process's boto3 client for ``service`` in the current AWS environment."""
    return _client(service, _environment())


def table(name: str) -> Any:
    """A DynamoDB Table resource for ``name``, in the current AWS environment and thread."""
    return _dynamodb(_environment(), threading.get_ident()).Table(name)


@lru_cache(maxsize=_KEPT)
def _client(service: str, environment: tuple) -> Any:
    return boto3.client(service)


@lru_cache(maxsize=_KEPT)
def _dynamodb(environment: tuple, thread: int) -> Any:
    return boto3.resource("dynamodb")


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in os.environ.items() if name[:4] == "AWS_"))
