"""``make bench``: a 1,000,000-row roster end to end on the local stack, handler by handler.

A valid roster (cached under bench/.data) is dropped in the local stack's bucket; the validator,
the uploader and the poller then run as Lambda runs them, on the real SQS and EventBridge event
shapes, each invocation in a Python process of its own (local_stack.lambda_process), until CERS
(the local stand-in) reports the import PROCESSED. For each handler it prints the invocations,
their wall and CPU seconds (the CPU figure holds on a busy machine) and the peak resident memory
of the biggest one, then the final status and
whether the MD5 digests of the file, of what the validator read and of what CERS received
agree. Then the same roster is dropped again, as the next day's export would be, and the
validator runs once more ("validator+hold"): this time the safety hold compares the file's
group counts with those of the processed one, so both are in memory.

The same runs on a smaller roster first (``--small-rows``), so the uploader's two peaks show
whether its memory grows with the file: the script exits with status 1 when the uploader's
peak grows by more than ``--max-growth-mb`` (or when a run does not end PROCESSED with matching
digests).

The moto server and the CERS stand-in run in this process, the handlers in their children: the
stand-in holds the whole upload in memory, as the real service may, without touching the
figures of our handlers. The uploader's wall time includes the stand-in checking the file
inside the POST, as CERS does.

Usage: python bench/end_to_end.py [--rows N] [--small-rows N] [--max-growth-mb MB]
"""

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

import boto3  # noqa: E402

from local_stack.big_roster import school_ids, write_big_roster  # noqa: E402
from local_stack.lambda_process import ProcessHandler  # noqa: E402
from local_stack.lambda_runner import (  # noqa: E402
    LambdaContext,
    QueueConsumer,
    run_until_idle,
    scheduled_event,
)
from local_stack.stack import SAMPLE_SCHOOLS, LocalStack, local_stack  # noqa: E402

DATA = ROOT / "bench" / ".data"
# The stand-in turns an ACCEPTED import PROCESSED after this many seconds: after the uploader
# stops watching it, so the poller is the one that sees it finish.
PROCESSING_DELAY = 2.0
POLL_INTERVAL = 1.0
STEP_TIMEOUT = 1800.0
HANDLERS = {
    "validator": "cers_groups.handlers.validator",
    "uploader": "cers_groups.handlers.uploader",
    "poller": "cers_groups.handlers.poller",
    "validator+hold": "cers_groups.handlers.validator",
}


@dataclass
class Run:
    rows: int
    file_mb: float
    handlers: dict[str, ProcessHandler]
    status: str
    history: list[str]
    digests: dict[str, str | None]
    next_day_status: str

    @property
    def digests_match(self) -> bool:
        return len(set(self.digests.values())) == 1

    @property
    def ok(self) -> bool:
        processed = self.status == "PROCESSED" and "ACCEPTED" in self.history
        return processed and self.digests_match and self.next_day_status == "VALIDATED"


def main(argv: list[str]) -> int:
    options = _options(argv)
    small = run_end_to_end(options.small_rows)
    _print_run(small)
    big = run_end_to_end(options.rows)
    _print_run(big)

    growth = big.handlers["uploader"].peak_rss_mb - small.handlers["uploader"].peak_rss_mb
    flat = growth <= options.max_growth_mb
    for name, handler in big.handlers.items():
        before = small.handlers[name].peak_rss_mb
        print(
            f"{name} peak: {small.rows:,} rows {before:.0f} MB, {big.rows:,} rows "
            f"{handler.peak_rss_mb:.0f} MB, growth {handler.peak_rss_mb - before:+.0f} MB"
        )
    print(
        f"uploader_memory_flat={'yes' if flat else 'no'} growth={growth:+.1f}MB "
        f"bound={options.max_growth_mb:.0f}MB"
    )
    return 0 if flat and small.ok and big.ok else 1


def run_end_to_end(rows: int) -> Run:
    """One roster of ``rows`` rows through a fresh local stack, each invocation in a child."""
    roster = _roster(rows)
    handlers = {name: ProcessHandler(module) for name, module in HANDLERS.items()}
    schools = school_ids(rows) | SAMPLE_SCHOOLS
    with local_stack(schools=schools, processing_delay=PROCESSING_DELAY) as stack:
        key = _drop(stack, roster)
        _drain(stack.resources.validate_queue_url, handlers["validator"], "validator", 5)
        _drain(stack.resources.upload_queue_url, handlers["uploader"], "uploader", 1)
        submission = _poll_until_final(stack, key, handlers["poller"])
        next_day = _drop(stack, roster, f"next-day-{roster.name}")
        _drain(stack.resources.validate_queue_url, handlers["validator+hold"], "validator", 5)
        next_day_status = _submission(stack, next_day)["status"]

    return Run(
        rows=rows,
        file_mb=roster.stat().st_size / 2**20,
        handlers=handlers,
        status=submission["status"],
        history=[step["status"] for step in submission["history"]],
        digests={
            "file": _md5(roster),
            "validated": submission.get("digest"),
            "cers": submission.get("cers_digest"),
        },
        next_day_status=next_day_status,
    )


def _drop(stack: LocalStack, roster: Path, name: str | None = None) -> str:
    """The roster into the district's folder in one PUT, streamed from disk."""
    key = f"{stack.folder}{name or roster.name}"
    with roster.open("rb") as body:
        boto3.client("s3").put_object(Bucket=stack.resources.bucket, Key=key, Body=body)
    return key


def _drain(queue_url: str, handler: ProcessHandler, name: str, batch_size: int) -> None:
    consumer = QueueConsumer(queue_url, handler, f"cers-groups-{name}", batch_size=batch_size)
    run_until_idle([consumer], timeout=STEP_TIMEOUT)


def _poll_until_final(stack: LocalStack, key: str, poller: ProcessHandler) -> dict:
    """The poller on its schedule until the submission is no longer ACCEPTED."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        submission = _submission(stack, key)
        if submission["status"] not in ("ACCEPTED", "UNCONFIRMED"):
            return submission
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {submission['status']} after {STEP_TIMEOUT:.0f} s")
        time.sleep(POLL_INTERVAL)
        poller(scheduled_event(), LambdaContext(function_name="cers-groups-poller"))


def _submission(stack: LocalStack, key: str) -> dict:
    found = [item for item in stack.submissions() if item["key"] == key]
    if len(found) != 1:
        raise RuntimeError(f"expected one submission for {key}, found {len(found)}")
    return found[0]


def _roster(rows: int) -> Path:
    DATA.mkdir(exist_ok=True)
    path = DATA / f"district-roster-{rows}.csv"
    if not path.exists():
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        partial = path.with_suffix(".partial")
        write_big_roster(partial, rows)
        partial.replace(path)
    return path


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest().upper()


def _print_run(run: Run) -> None:
    print(f"\nroster: {run.rows:,} rows, {run.file_mb:.1f} MB", flush=True)
    print(
        f"{'handler':<15} {'invocations':>11} {'wall seconds':>13} {'CPU seconds':>12} "
        f"{'peak RSS MB':>12}"
    )
    for name, handler in run.handlers.items():
        print(
            f"{name:<15} {len(handler.invocations):>11} {handler.seconds:>13.1f} "
            f"{handler.cpu_seconds:>12.1f} {handler.peak_rss_mb:>12.0f}"
        )
    print(f"status: {run.status} (history: {' -> '.join(run.history)})")
    print(f"the same roster dropped again: {run.next_day_status} after the safety hold check")
    match = "yes" if run.digests_match else "NO"
    print(
        f"digest match: {match} (file {run.digests['file']}, validated "
        f"{run.digests['validated']}, CERS {run.digests['cers']})",
        flush=True,
    )


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
