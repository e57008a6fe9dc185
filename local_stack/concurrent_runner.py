"""Several Lambda execution environments at once, the way the deployed stack runs the handlers.

``lambda_runner.run_until_idle`` delivers one batch at a time in the calling process, which keeps
the other tests simple but never runs two handlers at once. Here every execution environment is
a process of its own (Lambda containers share no memory: each has its own Powertools logger and
metrics, its own boto3 session and its own caches), started fresh with ``spawn``:

- ``validators`` processes take batches from the validate queue, and ``uploaders`` processes
  take single messages from the FIFO upload queue, through the same ``poll_once`` as the
  sequential runner. The upload queue's message groups (one per district) are what keeps two
  uploads of one district apart; this runner adds no lock of its own. moto's FIFO queue, like
  SQS, delivers nothing more from a group while one of its messages is in flight.
- One process runs the poller handler every ``poll_every`` seconds (reserved concurrency 1, so
  never two runs at once), with the event EventBridge's schedule sends.

Each environment writes its log lines to ``<log_dir>/<function>-<n>.log``, as each container
writes its own CloudWatch log stream.

Messages stay invisible for ``visibility_timeout`` seconds once received. The deployed queues
use six times the function's timeout; the local ones 2 seconds, so that a failed message comes
back quickly in the sequential tests. Under load a handler run can take longer than 2 seconds,
and a message reappearing while its first run is still going is something the deployed stack
never sees, so the runner gives the queues it drives a timeout longer than any run here.
"""

import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import boto3

from local_stack.lambda_runner import LambdaContext, QueueConsumer, poll_once, scheduled_event
from local_stack.observers import observe_this_process

# Pause between two receives that found nothing. Lambda's pollers long-poll instead; moto's long
# poll spins while every visible message of a FIFO queue is in a busy group, so this one pauses.
IDLE_PAUSE = 0.25
# How long a stopping environment may take to finish the batch it holds.
STOP_GRACE = 30.0
# How long the environments may take to start (imports of boto3, Powertools, pydantic).
STARTUP_TIMEOUT = 120.0


@dataclass(frozen=True)
class Concurrency:
    """How many environments of each function run at once, and how often the poller runs."""

    validators: int = 2
    uploaders: int = 5  # the deployed reserved concurrency (infra/sizing.py)
    poll_every: float = 1.0
    visibility_timeout: int = 120


@dataclass(frozen=True)
class _Environment:
    """What a worker process needs; plain values, so it pickles for ``spawn``."""

    function_name: str
    queue_url: str
    batch_size: int
    log_file: str


class ConcurrentRunner:
    """Start the environments on enter, stop them on exit; ``wait_until`` in between."""

    def __init__(
        self,
        validate_queue_url: str,
        upload_queue_url: str,
        log_dir: Path,
        concurrency: Concurrency = Concurrency(),
        validator_batch_size: int = 5,
    ) -> None:
        self._queues = (validate_queue_url, upload_queue_url)
        self._concurrency = concurrency
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._ready = self._context.Semaphore(0)
        self._processes: list[multiprocessing.process.BaseProcess] = []
        log_dir.mkdir(parents=True, exist_ok=True)
        functions = [("cers-groups-validator", validate_queue_url, validator_batch_size)]
        functions *= concurrency.validators
        functions += [("cers-groups-uploader", upload_queue_url, 1)] * concurrency.uploaders
        self._environments = [
            _Environment(name, queue_url, batch_size, str(log_dir / f"{name}-{number}.log"))
            for number, (name, queue_url, batch_size) in enumerate(functions, start=1)
        ]
        self._poller_log = str(log_dir / "cers-groups-poller-1.log")

    def __enter__(self) -> "ConcurrentRunner":
        sqs = boto3.client("sqs")
        for queue_url in self._queues:
            sqs.set_queue_attributes(
                QueueUrl=queue_url,
                Attributes={"VisibilityTimeout": str(self._concurrency.visibility_timeout)},
            )
        for environment in self._environments:
            self._start(Path(environment.log_file).stem, _consume, environment)
        self._start("cers-groups-poller-1", _poll, self._poller_log, self._concurrency.poll_every)
        self._wait_ready()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        deadline = time.monotonic() + STOP_GRACE
        for process in self._processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    def wait_until(self, done: Callable[[], bool], timeout: float, every: float = 1.0) -> float:
        """Seconds until ``done()`` held; TimeoutError after ``timeout``, or when an
        environment died (Lambda would replace it; here it is a defect to look at)."""
        started = time.monotonic()
        while not done():
            dead = [process.name for process in self._processes if not process.is_alive()]
            if dead:
                raise RuntimeError(f"execution environments stopped: {', '.join(dead)}")
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not done after {timeout:.0f} s")
            time.sleep(every)
        return time.monotonic() - started

    def _wait_ready(self) -> None:
        """Until every environment has imported its handler (a cold start each)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for _ in self._processes:
            if not self._ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                self.__exit__(None, None, None)
                raise TimeoutError(f"environments not ready after {STARTUP_TIMEOUT:.0f} s")

    def _start(self, name: str, target: Callable, *args: object) -> None:
        process = self._context.Process(
            target=target, args=(*args, self._ready, self._stop), name=name, daemon=True
        )
        process.start()
        self._processes.append(process)


def _consume(environment: _Environment, ready, stop) -> None:
    """One execution environment of a queue-fed function: receive, handle, delete, repeat."""
    _log_to(environment.log_file)
    observe_this_process()
    if environment.function_name == "cers-groups-validator":
        from cers_groups.handlers.validator import lambda_handler
    else:
        from cers_groups.handlers.uploader import lambda_handler
    consumer = QueueConsumer(
        environment.queue_url, lambda_handler, environment.function_name, environment.batch_size
    )
    ready.release()
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:  # a container outlives no stack
        if poll_once(consumer) == 0:
            time.sleep(IDLE_PAUSE)


def _poll(log_file: str, every: float, ready, stop) -> None:
    """The poller's single environment, run on a fixed rate like its EventBridge schedule; a
    failed run is logged and the next one comes on time (the schedule does not retry)."""
    _log_to(log_file)
    observe_this_process()
    from cers_groups.handlers.poller import lambda_handler

    ready.release()
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        started = time.monotonic()
        try:
            lambda_handler(scheduled_event(), LambdaContext(function_name="cers-groups-poller"))
        except Exception:  # noqa: BLE001 - a failed invocation; the schedule goes on
            traceback.print_exc()
        stop.wait(max(0.0, every - (time.monotonic() - started)))


def _log_to(log_file: str) -> None:
    """Send this process's standard output and error (the handlers' log lines) to a file."""
    handle = open(log_file, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    sys.stdout = sys.stderr = handle
