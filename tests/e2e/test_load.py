"""The load proof: 200 rosters from 20 districts at once, through concurrent handlers.

The handlers run as the deployed stack runs them: validators and the uploader's reserved
concurrency in processes of their own on the real queues, and the poller on a schedule (see
local_stack.concurrent_runner). CERS takes two seconds to process each import, so files of a
district wait for the one before. The figures go to ``load.json`` in the test's directory.
"""

import json

import pytest

from cers_groups.submissions import Status
from local_stack.load import run_load

DISTRICTS = 20
FILES_PER_DISTRICT = 10
FILES = DISTRICTS * FILES_PER_DISTRICT


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("load")
    result = run_load(workdir, DISTRICTS, FILES_PER_DISTRICT)
    (workdir / "load.json").write_text(json.dumps(result.summary(), indent=2))
    return result


@pytest.mark.slow
def test_load_every_file_is_processed(load):
    assert load.statuses == {Status.PROCESSED: FILES}


@pytest.mark.slow
def test_load_every_file_is_sent_once(load):
    assert load.posts == FILES
    assert load.post_answers == {202: FILES}


@pytest.mark.slow
def test_load_districts_files_reach_cers_in_drop_order(load):
    assert load.cers_order == load.dropped_order
    assert sum(len(names) for names in load.cers_order.values()) == FILES


@pytest.mark.slow
def test_load_one_upload_per_district_at_a_time(load):
    assert load.uploads_at_once == {district: 1 for district in load.dropped_order}
    assert load.waited > 0  # CERS was still processing when most next files came


@pytest.mark.slow
def test_load_signs_in_at_most_twice_per_district(load):
    assert len(load.sign_ins) == DISTRICTS
    assert all(1 <= calls <= 2 for calls in load.sign_ins.values())
    assert load.unattributed_sign_ins == 0


@pytest.mark.slow
def test_load_sends_no_alert(load):
    assert load.alerts == []
