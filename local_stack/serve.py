"""`make local`: the local stack as a long-running service, for the command line.

Starts moto's server and the CERS stand-in on 127.0.0.1, creates the stack's resources, feeds
the queues to the real handlers in a background loop (as Lambda's event source mappings do),
and writes ``.local-stack.json`` with the endpoint and the resource names. Then, in another
shell::

    export CERS_GROUPS_LOCAL=1          # or pass --local to each command
    cers-groups submit local_stack/samples/valid_roster.csv --tenant sample-usd --wait
    cers-groups status

Runs until Ctrl-C (or SIGTERM), then removes the file. Everything lives in memory.
"""

import argparse
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from cers_groups.deployment import LOCAL_FILE_NAME, write_local_file

IDLE_SECONDS = 0.5


class QueueLoop:
    """Feeds every queue of a local stack to its handler until stopped, in one thread."""

    def __init__(self, stack, idle_seconds: float = IDLE_SECONDS) -> None:
        self._consumers = stack.consumers()
        self._idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="queue-loop", daemon=True)
        self.errors = 0

    def start(self) -> "QueueLoop":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def __enter__(self) -> "QueueLoop":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _loop(self) -> None:
        from local_stack.lambda_runner import poll_once

        while not self._stop.is_set():
            try:
                delivered = sum(poll_once(consumer) for consumer in self._consumers)
            except Exception as error:  # noqa: BLE001 - a broken poll must not end the service
                self.errors += 1
                print(f"queue loop: {type(error).__name__}: {error}", file=sys.stderr)
                delivered = 0
            if delivered == 0:
                self._stop.wait(self._idle_seconds)


def main(argv: list[str]) -> int:
    options = _parser().parse_args(argv)
    if not options.verbose:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        warnings.filterwarnings("ignore", message="No application metrics to publish")
    from local_stack.stack import local_stack  # after the environment is set

    state_file = Path(options.state_file).resolve()
    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopping.set())

    with (
        local_stack(
            moto_port=options.port,
            cers_port=options.cers_port,
            processing_delay=options.processing_delay,
        ) as stack,
        QueueLoop(stack),
    ):
        write_local_file(
            state_file,
            stack.deployment(),
            cers_endpoint=stack.standin.endpoint,
            tenants_file=stack.tenants_file,
            pid=os.getpid(),
            started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        try:
            _announce(stack, state_file)
            stopping.wait()
        finally:
            state_file.unlink(missing_ok=True)
    print("Local stack stopped.")
    return 0


def _announce(stack, state_file: Path) -> None:
    districts = ", ".join(district.id for district in stack.tenants.districts)
    print(
        f"Local stack up: moto at {stack.endpoint_url}, CERS stand-in at"
        f" {stack.standin.endpoint}\n"
        f"Districts: {districts}. Resources recorded in {state_file}.\n"
        f"In another shell: export CERS_GROUPS_LOCAL={state_file}\n"
        "  cers-groups submit local_stack/samples/valid_roster.csv --tenant"
        f" {stack.tenants.districts[0].id} --wait\n"
        "Ctrl-C stops it.",
        flush=True,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local_stack.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="moto's port (default: a free one)")
    parser.add_argument(
        "--cers-port", type=int, default=0, help="the CERS stand-in's port (default: a free one)"
    )
    parser.add_argument(
        "--processing-delay",
        type=float,
        default=10.0,
        help="seconds until the stand-in processes an accepted import (default: 10)",
    )
    parser.add_argument(
        "--state-file", default=LOCAL_FILE_NAME, help=f"where to record it ({LOCAL_FILE_NAME})"
    )
    parser.add_argument("--verbose", action="store_true", help="show the handlers' logs")
    return parser


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
