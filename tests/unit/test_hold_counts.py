"""Safety hold: counting a roster's groups in one pass and comparing it with the last upload."""

import io
import json
from decimal import Decimal

import pytest

from cers_groups.safety_hold import (
    GroupCounts,
    compare,
    compose_hold_alert,
    count_groups,
    hold_lines,
    read_group_students,
)
from cers_groups.tenants import HoldSettings
from tests.rosters import SCHOOL_A, SCHOOL_B, roster_text

DEFAULTS = HoldSettings()


def counts_of(groups: dict[tuple[str, str], int]) -> GroupCounts:
    return count_groups(io.BytesIO(roster_text(groups).encode()))


def test_count_groups_counts_distinct_students_and_users_per_group() -> None:
    text = (
        "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login\n"
        "Gr5_Math,99123450111111,2027,Math,,t1@example.org\n"
        "Gr5_Math,99123450111111,2027,Math,1000000001,\n"
        "gr5_math,99123450111111,2027,Math,1000000001,t1@example.org\n"
        "\n"
        "GR5_MATH,99123450111111,2027,Math, 1000000002 ,t2@example.org\n"
        "Gr5_Math,99123450111111,2028,Math,1000000003,\n"
        "Gr5_Math,99123450122222,2027,,,\n"
    )

    counts = count_groups(io.BytesIO(text.encode("utf-8-sig")))

    document = counts.to_document()
    assert document["groups"] == [
        {
            "school": SCHOOL_A,
            "group": "Gr5_Math",
            "school_year": "2027",
            "students": 2,
            "users": 2,
        },
        {"school": SCHOOL_A, "group": "Gr5_Math", "school_year": "2028", "students": 1, "users": 0},
        {"school": SCHOOL_B, "group": "Gr5_Math", "school_year": "2027", "students": 0, "users": 0},
    ]
    assert document["totals"] == {"groups": 3, "students": 3}


def test_group_counts_survive_their_document() -> None:
    counts = counts_of({(SCHOOL_A, "G1"): 3, (SCHOOL_B, "G2"): 5})

    again = GroupCounts.from_document(counts.to_document())

    assert again.to_document() == counts.to_document()


def test_group_counts_json_lines_are_the_document_one_group_a_line() -> None:
    counts = counts_of({(SCHOOL_A, "G1"): 3, (SCHOOL_B, "G2"): 5})

    text = "".join(counts.json_lines(submission_id="s-1", file="incoming/d/roster.csv"))

    assert json.loads(text) == {
        "submission_id": "s-1",
        "file": "incoming/d/roster.csv",
        **counts.to_document(),
    }
    lines = text.splitlines()
    assert len(lines) == 4
    assert json.loads(lines[1].rstrip(","))["group"] == "G1"


def test_group_counts_json_lines_of_no_groups_is_a_document() -> None:
    text = "".join(GroupCounts().json_lines())

    assert json.loads(text) == {"groups": [], "totals": {"groups": 0, "students": 0}}


def test_compare_unchanged_roster_is_not_held() -> None:
    groups = {(SCHOOL_A, "G1"): 10, (SCHOOL_A, "G2"): 20}

    check = compare(counts_of(groups), counts_of(groups), DEFAULTS)

    assert check.held is False
    assert check.changes == ()
    assert (check.members_before, check.members_after) == (30, 30)


def test_compare_group_losing_more_than_half_is_held() -> None:
    before = {(SCHOOL_A, "G1"): 10, (SCHOOL_A, "G2"): 40}

    check = compare(counts_of(before), counts_of({**before, (SCHOOL_A, "G1"): 4}), DEFAULTS)

    assert check.held is True
    assert (check.shrunk, check.emptied) == (1, 0)
    [change] = check.changes
    assert (change.group, change.before, change.after) == ("G1", 10, 4)
    assert check.flag(change) == "shrinks"


def test_compare_group_losing_exactly_half_is_not_held() -> None:
    before = {(SCHOOL_A, "G1"): 10, (SCHOOL_A, "G2"): 40}

    check = compare(counts_of(before), counts_of({**before, (SCHOOL_A, "G1"): 5}), DEFAULTS)

    assert check.held is False
    assert check.flag(check.changes[0]) is None


def test_compare_group_becoming_empty_is_held_whatever_the_threshold() -> None:
    before = {(SCHOOL_A, "G1"): 1, (SCHOOL_A, "G2"): 40}
    settings = HoldSettings(group_drop=1.0)

    check = compare(counts_of(before), counts_of({**before, (SCHOOL_A, "G1"): 0}), settings)

    assert check.held is True
    assert (check.emptied, check.shrunk) == (1, 0)


def test_compare_total_drop_over_threshold_is_held_without_any_big_group_drop() -> None:
    before = {(SCHOOL_A, f"G{n}"): 10 for n in range(5)}
    after = {key: 7 for key in before}

    check = compare(counts_of(before), counts_of(after), DEFAULTS)

    assert (check.emptied, check.shrunk) == (0, 0)
    assert check.total_drop == pytest.approx(0.3)
    assert check.held is True


def test_compare_groups_missing_from_the_new_file_are_not_drops() -> None:
    before = {(SCHOOL_A, "G1"): 10, (SCHOOL_A, "G2"): 10, (SCHOOL_B, "G3"): 10}

    check = compare(counts_of(before), counts_of({(SCHOOL_A, "G1"): 10}), DEFAULTS)

    assert check.held is False
    assert (check.groups_compared, check.groups_not_in_file) == (1, 2)
    assert (check.members_before, check.members_after) == (30, 30)


def test_compare_new_groups_do_not_hide_a_drop() -> None:
    before = {(SCHOOL_A, "G1"): 20}
    after = {(SCHOOL_A, "G1"): 2, (SCHOOL_A, "G1_new"): 30}

    check = compare(counts_of(before), counts_of(after), DEFAULTS)

    assert check.held is True
    assert check.new_groups == 1
    assert (check.members_before, check.members_after) == (20, 2)


def test_compare_matches_group_names_ignoring_case() -> None:
    before = counts_of({(SCHOOL_A, "Gr5_Math"): 10})

    check = compare(before, counts_of({(SCHOOL_A, "GR5_MATH"): 10}), DEFAULTS)

    assert (check.groups_compared, check.new_groups, check.held) == (1, 0, False)


def test_compare_uses_the_districts_thresholds() -> None:
    before = {(SCHOOL_A, "G1"): 10, (SCHOOL_A, "G2"): 90}
    after = {**before, (SCHOOL_A, "G1"): 7}

    assert compare(counts_of(before), counts_of(after), DEFAULTS).held is False
    strict = HoldSettings(group_drop=0.25, total_drop=0.2)
    assert compare(counts_of(before), counts_of(after), strict).held is True


def test_hold_document_lists_flagged_groups_first() -> None:
    before = {(SCHOOL_A, "G1"): 10, (SCHOOL_A, "G2"): 10, (SCHOOL_A, "G3"): 10}
    after = {(SCHOOL_A, "G1"): 9, (SCHOOL_A, "G2"): 0, (SCHOOL_A, "G3"): 3}

    document = compare(counts_of(before), counts_of(after), DEFAULTS).to_document()

    assert [(g["group"], g["flag"]) for g in document["groups"]] == [
        ("G2", "empty"),
        ("G3", "shrinks"),
        ("G1", None),
    ]
    assert document["summary"]["members_before"] == 30
    assert document["summary"]["group_drop"] == 0.5


def held_submission() -> dict:
    before = {(SCHOOL_A, f"G{n}"): 10 for n in range(15)}
    after = {key: 0 if int(key[1][1:]) < 3 else 4 for key in before}
    check = compare(counts_of(before), counts_of(after), DEFAULTS)
    return {
        "submission_id": "20261203T101500Z-abcdef012345",
        "district": "sample-usd",
        "key": "incoming/sample-usd/roster.csv",
        "hold": {
            **check.summary(),
            "baseline": "20261201T080000Z-0123456789ab",
            "diff_key": "reports/20261203T101500Z-abcdef012345/hold.json",
        },
    }


def test_hold_alert_gives_counts_and_the_commands_but_no_row_values() -> None:
    alert = compose_hold_alert(held_submission(), "roster-bucket")

    assert alert.subject == "CERS groups [sample-usd] roster.csv on hold"
    assert "  - 3 groups would become empty\n" in alert.body
    assert "  - 12 other groups would lose more than 50% of their students\n" in alert.body
    assert "students in the last upload's groups: 150 -> 48 (-68%)" in alert.body
    assert "s3://roster-bucket/reports/20261203T101500Z-abcdef012345/hold.json" in alert.body
    assert "cers-groups release 20261203T101500Z-abcdef012345" in alert.body
    assert "cers-groups reject 20261203T101500Z-abcdef012345" in alert.body
    assert SCHOOL_A not in alert.body and "G1" not in alert.body


def test_hold_lines_read_the_numbers_dynamodb_returns() -> None:
    hold = {
        "groups_emptied": Decimal(0),
        "groups_shrunk": Decimal(1),
        "members_before": Decimal(4210),
        "members_after": Decimal(2950),
        "group_drop": Decimal("0.5"),
        "total_drop": Decimal("0.2"),
        "groups_compared": Decimal(140),
        "new_groups": Decimal(2),
        "groups_not_in_file": Decimal(0),
    }

    assert list(hold_lines(hold)) == [
        "1 group would lose more than 50% of their students",
        "students in the last upload's groups: 4,210 -> 2,950 (-30%);"
        " a drop of more than 20% is held",
        "140 groups in both files, 2 new, 0 not in this file",
    ]


def test_read_group_students_streams_the_groups_document_line_by_line() -> None:
    counts = counts_of({(SCHOOL_A, "G1"): 3, (SCHOOL_B, "G2"): 5})
    document = "".join(counts.json_lines(submission_id="s-1", file="f.csv")).encode()

    pairs = list(read_group_students(io.BytesIO(document)))

    assert pairs == [((SCHOOL_A, "g1", "2027"), 3), ((SCHOOL_B, "g2", "2027"), 5)]


def test_read_group_students_reads_a_document_written_whole() -> None:
    counts = counts_of({(SCHOOL_A, "G1"): 3, (SCHOOL_B, "G2"): 5})
    document = json.dumps({"submission_id": "s-1", **counts.to_document()}, indent=2).encode()

    pairs = list(read_group_students(io.BytesIO(document)))

    assert pairs == [((SCHOOL_A, "g1", "2027"), 3), ((SCHOOL_B, "g2", "2027"), 5)]


def test_compare_streamed_baseline_finds_what_the_counts_find() -> None:
    before = {(SCHOOL_A, "G1"): 10, (SCHOOL_A, "G2"): 40, (SCHOOL_B, "G3"): 7}
    after = {(SCHOOL_A, "G1"): 4, (SCHOOL_A, "G2"): 40, (SCHOOL_B, "G4"): 9}
    kept = "".join(counts_of(before).json_lines()).encode()

    streamed = compare(read_group_students(io.BytesIO(kept)), counts_of(after), DEFAULTS)
    whole = compare(counts_of(before), counts_of(after), DEFAULTS)

    assert streamed == whole
    assert streamed.summary()["groups_not_in_file"] == 1
    assert (streamed.members_before, streamed.members_after) == (57, 51)
