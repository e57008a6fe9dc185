"""moto's server on 127.0.0.1, and the environment that points boto3 at it."""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from moto.server import ThreadedMotoServer

REGION = "us-west-2"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def moto_server(port: int = 0) -> Iterator[str]:
    """Run moto's server on a loopback port (a free one for 0); yield its URL with boto3
    pointed at it.

    boto3 reads ``AWS_ENDPOINT_URL`` itself, so product code creates its clients as it does in
    production and still talks to the local server.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its state per process: start every local stack from nothing.
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    saved = {name: os.environ.get(name) for name in (*FAKE_CREDENTIALS, "AWS_ENDPOINT_URL")}
    os.environ.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=url)
    try:
        yield url
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
