import json
from pathlib import Path

from cers_groups.events import dropped_objects, file_name

EVENTS = Path(__file__).parents[1] / "events"


def test_dropped_objects_decodes_plus_as_space_and_percent_escapes():
    body = (EVENTS / "s3_put_via_sqs.json").read_text()

    [dropped] = dropped_objects(body)

    assert dropped.key == "incoming/fall term/roster + été.csv"
    assert file_name(dropped.key) == "roster + été.csv"
    assert dropped.size == 5321
    assert dropped.version_id == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"


def test_dropped_objects_skips_folder_markers():
    body = json.loads((EVENTS / "s3_put_via_sqs.json").read_text())

    keys = [dropped.key for dropped in dropped_objects(json.dumps(body))]

    assert keys == ["incoming/fall term/roster + été.csv"]


def test_dropped_objects_skips_s3_test_event():
    body = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2026-12-03T16:40:00.000Z",
            "Bucket": "cers-groups-rosters",
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )

    assert dropped_objects(body) == []


def test_submission_id_is_stable_per_object_version():
    body = (EVENTS / "s3_put_via_sqs.json").read_text()

    first = dropped_objects(body)[0].submission_id
    again = dropped_objects(body)[0].submission_id

    assert first == again
    assert first.startswith("20261203T164012Z-")
