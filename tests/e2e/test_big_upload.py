"""The uploader streams a roster from S3 to CERS: its memory does not grow with the file.

Measured, not timed: the body handed to requests is read in small chunks, and the uploader
Lambda, run in a process of its own as Lambda runs it, allocates about as much for a
200,000-row file as for a 20,000-row one (tracemalloc's peak while the handler ran, about
27 MB for either: boto3's clients and models), though the file grows by 9.5 MB.
"""

import pytest
import requests

from local_stack.big_roster import school_ids, write_big_roster
from local_stack.lambda_process import ProcessHandler
from local_stack.lambda_runner import QueueConsumer, run_until_idle
from local_stack.stack import SAMPLE_SCHOOLS, local_stack

# Bytes urllib3 asks a streamed body for at a time (16 KiB), with room for the multipart framing.
LARGEST_READ = 64 * 1024
# What the uploader may allocate for ten times the rows (about 9.5 MB more file).
GROWTH_BOUND_MB = 1.5


def upload_in_child(tmp_path, rows: int) -> tuple[dict, float, int]:
    """The submission, the uploader's traced peak (MB) and the file size for ``rows`` rows."""
    roster = tmp_path / f"district-roster-{rows}.csv"
    size = write_big_roster(roster, rows)
    uploader = ProcessHandler("cers_groups.handlers.uploader", trace_memory=True)
    with local_stack(schools=school_ids(rows) | SAMPLE_SCHOOLS, processing_delay=0.05) as stack:
        stack.drop(roster)
        stack.drain_validation(timeout=300)
        consumer = QueueConsumer(
            stack.resources.upload_queue_url, uploader, "cers-groups-uploader", batch_size=1
        )
        run_until_idle([consumer], timeout=300)
        [submission] = stack.submissions()
        [received] = stack.standin.received
    assert received.size == size
    [invocation] = uploader.invocations
    return submission, invocation.traced_peak_mb, size


@pytest.mark.slow
def test_uploader_memory_does_not_grow_with_the_file(tmp_path):
    small, small_peak, small_size = upload_in_child(tmp_path, 20_000)
    big, big_peak, big_size = upload_in_child(tmp_path, 200_000)

    assert small["status"] == big["status"] == "PROCESSED"
    assert big["cers_digest"] == big["digest"]
    assert big_size - small_size > 9_000_000
    assert big_peak - small_peak < GROWTH_BOUND_MB


def test_uploader_hands_requests_a_stream_read_in_small_chunks(tmp_path, monkeypatch):
    roster = tmp_path / "district-roster.csv"
    size = write_big_roster(roster, 20_000)
    reads: list[int] = []
    bodies = []
    send = requests.Session.send

    def watched_send(session, request, **options):
        if request.method == "POST" and "/groups/imports" in request.url:
            bodies.append(request.body)
            read = request.body.read

            def counted_read(amount=-1):
                chunk = read(amount)
                reads.append(len(chunk))
                return chunk

            request.body.read = counted_read
        return send(session, request, **options)

    monkeypatch.setattr(requests.Session, "send", watched_send)
    with local_stack(schools=school_ids(20_000) | SAMPLE_SCHOOLS) as stack:
        stack.drop(roster)
        stack.run(follow=False)
        [submission] = stack.submissions()

    assert submission["status"] == "ACCEPTED"
    [body] = bodies
    assert not isinstance(body, bytes | str)
    assert sum(reads) > size
    assert max(reads) <= LARGEST_READ
