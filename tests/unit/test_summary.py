from datetime import UTC, datetime

from cers_groups.summary import Window, compose_daily_summary
from cers_groups.tenants import District, Tenants

DISTRICT = District(id="north-usd", name="North Unified", daily_summary=True)
WINDOW = Window.ending(datetime(2026, 12, 3, 14, 0, tzinfo=UTC))


def item(name: str, status: str, **fields) -> dict:
    return {
        "submission_id": f"20261203T060000Z-{name[:6]}",
        "key": f"incoming/north-usd/{name}",
        "status": status,
        "dropped_at": "2026-12-03T06:00:00.000Z",
        **fields,
    }


def test_window_is_the_24_hours_before_the_schedule_in_table_time_format():
    assert WINDOW.iso() == ("2026-12-02T14:00:00.000Z", "2026-12-03T14:00:00.000Z")


def test_daily_summary_counts_and_names_files_by_outcome():
    submissions = [
        item("monday.csv", "ACCEPTED", rows=1200, cers_import_id=17),
        item("monday-b.csv", "PROCESSED", rows=1, cers_import_id=18),
        item("broken.csv", "INVALID", rows=40),
        item("late.csv", "VALIDATED"),
    ]

    summary = compose_daily_summary(DISTRICT, submissions, WINDOW)

    assert (
        summary.subject == "CERS groups [north-usd] daily summary: 2 files sent to CERS, 1 failed"
    )
    body = summary.body
    assert (
        "Roster files dropped by district north-usd (North Unified) between"
        " 2026-12-02 14:00:00 UTC and 2026-12-03 14:00:00 UTC: 4 files." in body
    )
    assert "By status: ACCEPTED 1, INVALID 1, PROCESSED 1, VALIDATED 1." in body
    assert (
        "Sent to CERS: 2 files:\n"
        "  - monday.csv, ACCEPTED, 1,200 data rows, CERS import 17"
        " (dropped 2026-12-03 06:00:00 UTC)\n"
        "  - monday-b.csv, PROCESSED, 1 data row, CERS import 18"
        " (dropped 2026-12-03 06:00:00 UTC)\n"
    ) in body
    assert "Failed: 1 file (each had its own alert with what to do):\n  - broken.csv, INVALID," in (
        body
    )
    assert "Still under way: 1 file:\n  - late.csv, VALIDATED, submission" in body


def test_daily_summary_of_a_quiet_day_says_no_file_arrived():
    summary = compose_daily_summary(DISTRICT, [], WINDOW)

    assert (
        summary.subject == "CERS groups [north-usd] daily summary: 0 files sent to CERS, 0 failed"
    )
    assert "0 files. No file arrived: check that the SIS export ran." in summary.body
    assert "Sent to CERS" not in summary.body


def test_daily_summary_lists_at_most_50_files_per_outcome():
    submissions = [item(f"part-{n}.csv", "ACCEPTED") for n in range(60)]

    body = compose_daily_summary(DISTRICT, submissions, WINDOW).body

    assert body.count(", ACCEPTED") == 50
    assert "  ... and 10 more files." in body


def test_daily_summary_is_off_unless_the_tenants_file_asks_for_it():
    tenants = Tenants.model_validate(
        {"districts": [{"id": "north-usd"}, {"id": "south-usd", "daily_summary": True}]}
    )

    assert [district.daily_summary for district in tenants.districts] == [False, True]
