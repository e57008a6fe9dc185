"""``make bench``, load section: many districts' rosters at once through concurrent handlers.

Runs local_stack.load.run_load (moto's server, the CERS stand-in, the real handlers in processes
of their own: validators, the uploader's reserved concurrency, the poller on a schedule) and
prints the figures: files, districts, wall-clock seconds until the last file was final,
throughput, sign-ins and uploads in progress per district.

Usage: python bench/load.py [--districts N] [--files-per-district N] [--validators N]
           [--uploaders N] [--poll-every SECONDS] [--processing-delay SECONDS]
"""

import argparse
import sys
import tempfile
from pathlib import Path

from local_stack.concurrent_runner import Concurrency
from local_stack.load import PROCESSING_DELAY, run_load


def main(argv: list[str]) -> int:
    options = _options(argv)
    concurrency = Concurrency(
        validators=options.validators,
        uploaders=options.uploaders,
        poll_every=options.poll_every,
    )
    with tempfile.TemporaryDirectory(prefix="cers-groups-load-") as workdir:
        result = run_load(
            Path(workdir),
            options.districts,
            options.files_per_district,
            concurrency,
            options.processing_delay,
        )
    in_order = sum(result.cers_order[d] == names for d, names in result.dropped_order.items())
    print(
        f"load: files={result.files} districts={result.districts} "
        f"validators={concurrency.validators} uploaders={concurrency.uploaders} "
        f"poll_every={concurrency.poll_every:g}s processing_delay={options.processing_delay:g}s"
    )
    print(
        f"load: dropped_in={result.drop_seconds:.1f}s last_final_after={result.final_seconds:.1f}s "
        f"files_per_second={result.files / result.final_seconds:.2f} "
        f"files_per_minute={result.files_per_minute:.0f}"
    )
    print(
        f"load: statuses={dict(result.statuses)} posts={result.posts} waited={result.waited} "
        f"districts_in_drop_order={in_order}/{result.districts} alerts={len(result.alerts)}"
    )
    print(
        f"load: initiate_auth_per_district_max={max(result.sign_ins.values())} "
        f"min={min(result.sign_ins.values())} unattributed={result.unattributed_sign_ins} "
        f"uploads_at_once_per_district_max={max(result.uploads_at_once.values())}"
    )
    return 0


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=20)
    parser.add_argument("--files-per-district", type=int, default=10)
    parser.add_argument("--validators", type=int, default=Concurrency.validators)
    parser.add_argument("--uploaders", type=int, default=Concurrency.uploaders)
    parser.add_argument("--poll-every", type=float, default=Concurrency.poll_every)
    parser.add_argument("--processing-delay", type=float, default=PROCESSING_DELAY)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
