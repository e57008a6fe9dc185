from cers_groups.alerts import SUBJECT_LIMIT, compose_alert, counted

SUBMISSION_ID = "20261203T164012Z-abc123def456"
PAGE = f"reports/{SUBMISSION_ID}/report.html"


def invalid_submission(**overrides) -> dict:
    submission = {
        "submission_id": SUBMISSION_ID,
        "district": "sample-usd",
        "key": "incoming/sample-usd/roster.csv",
        "status": "INVALID",
        "dropped_at": "2026-12-03T16:40:12.000Z",
        "rows": 40,
        "problem_count": 2,
        "problems": [
            {"rule": "group-name-characters", "row": 7, "message": "Group names may only ..."},
            {"rule": "school-year-format", "row": 12, "message": "school_year must be ..."},
        ],
        "report_key": f"reports/{SUBMISSION_ID}/validation.json",
        "history": [
            {"status": "RECEIVED", "at": "2026-12-03T16:40:12.500Z"},
            {"status": "INVALID", "at": "2026-12-03T16:40:13.250Z"},
        ],
    }
    return {**submission, **overrides}


def many_problems(count: int, rule: str = "school-year-format") -> list[dict]:
    message = "school_year must be ..."
    return [{"rule": rule, "row": row, "message": message} for row in range(count)]


def test_compose_alert_invalid_names_district_file_outcome_rows_report_and_id():
    alert = compose_alert(invalid_submission(), "rosters", PAGE)

    assert alert.subject == "CERS groups [sample-usd] roster.csv failed validation"
    body = alert.body
    assert "The roster file roster.csv failed validation at 2026-12-03 16:40:13 UTC." in body
    assert "File: s3://rosters/incoming/sample-usd/roster.csv" in body
    assert "2 problems found in 40 data rows; 2 rules broken." in body
    assert "The problems. Row N is the N-th data row" in body
    assert "  - row 7 [group-name-characters]: Group names may only ..." in body
    assert "  - row 12 [school-year-format]: school_year must be ..." in body
    assert "What to do next:\nNothing was sent to CERS." in body
    assert f"  s3://rosters/{PAGE}\n" in body
    assert f"  cers-groups report {SUBMISSION_ID}\n" in body
    assert f"  aws s3 cp s3://rosters/{PAGE} .\n" in body
    assert body.endswith(f"Submission id: {SUBMISSION_ID}\n")


def test_compose_alert_counts_every_rule_from_rule_counts_not_the_first_problems():
    # Three rules broken 1,000 times each; the item keeps only the first 20 problems.
    submission = invalid_submission(
        rows=3000,
        problem_count=3000,
        problems=many_problems(20),
        rule_counts={
            "school-year-format": 1000,
            "group-name-characters": 1000,
            "subject-code-unknown": 1000,
        },
    )

    body = compose_alert(submission, "rosters", PAGE).body

    assert "3,000 problems found in 3,000 data rows; 3 rules broken." in body
    assert (
        "Rules broken:\n"
        "  - group-name-characters: 1,000 times\n"
        "  - school-year-format: 1,000 times\n"
        "  - subject-code-unknown: 1,000 times\n"
    ) in body
    assert "The first 20 problems." in body
    assert "  ... and 2,980 more problems in the report." in body


def test_compose_alert_lists_at_most_20_problems():
    submission = invalid_submission(problem_count=30, problems=many_problems(30))

    body = compose_alert(submission, "rosters", PAGE).body

    assert body.count("[school-year-format]:") == 20
    assert "row 19 [" in body and "row 20 [" not in body


def test_compose_alert_without_rule_counts_says_the_counts_cover_the_listed_problems():
    submission = invalid_submission(problem_count=23, problems=many_problems(20))

    body = compose_alert(submission, "rosters", PAGE).body

    assert "23 problems found in 40 data rows; 1 rule broken." in body
    assert "Rules broken among the problems listed below:\n  - school-year-format: 20 times" in body


def test_compose_alert_singular_wording():
    submission = invalid_submission(
        rows=1, problem_count=1, problems=many_problems(1), rule_counts={"school-year-format": 1}
    )

    body = compose_alert(submission, "rosters", PAGE).body

    assert "1 problem found in 1 data row; 1 rule broken." in body
    assert "  - school-year-format: 1 time\n" in body
    assert "The problem. Row N is the N-th data row" in body
    assert "more problem" not in body


def test_counted_plural_and_thousands():
    assert counted(0, "problem") == "0 problems"
    assert counted(1, "problem") == "1 problem"
    assert counted(2, "problem") == "2 problems"
    assert counted(1234, "row") == "1,234 rows"


def test_compose_alert_points_at_the_json_report_when_the_page_was_not_written():
    body = compose_alert(invalid_submission(), "rosters", None).body

    assert f"  s3://rosters/reports/{SUBMISSION_ID}/validation.json\n" in body
    assert "report.html" not in body


def test_compose_alert_subject_fits_sns_limit():
    alert = compose_alert(invalid_submission(key="incoming/" + "x" * 300 + ".csv"), "rosters")

    assert len(alert.subject) == SUBJECT_LIMIT
    assert alert.subject.endswith("...")


def test_compose_alert_bad_data_hides_values_cers_quotes():
    submission = invalid_submission(
        status="BAD_DATA",
        cers_import_id=42,
        cers_message=(
            "Row: 3 Failure: School [99123450122222] can not be found\n"
            "Row: 9 Failure: Invalid subject: Science\n"
            "Row: 11 Failure: School [9912] Group [Algebra_P3] contains 201 students.  "
            "Maximum students allowed per group is 200"
        ),
        history=[
            {"status": "UPLOADING", "at": "2026-12-03T16:41:00.000Z"},
            {"status": "BAD_DATA", "at": "2026-12-03T16:41:05.000Z"},
        ],
    )

    alert = compose_alert(submission, "rosters", PAGE)

    assert alert.subject == "CERS groups [sample-usd] roster.csv was rejected by CERS"
    body = alert.body
    assert "99123450122222" not in body
    assert "Science" not in body
    assert "Algebra_P3" not in body
    assert "CERS import 42 answered BAD_DATA at 2026-12-03 16:41:05 UTC." in body
    assert "CERS rejected the whole file: no group was changed." in body
    assert "  Row: 3 Failure: School [...] can not be found\n" in body
    assert "  Row: 9 Failure: Invalid subject: ...\n" in body
    assert "School [...] Group [...] contains 201 students." in body


def test_compose_alert_bad_data_after_accepted_warns_of_partly_applied_groups():
    submission = invalid_submission(
        status="BAD_DATA",
        cers_import_id=42,
        cers_message="Duplicate entry '8977605235-Gr5_Math' for key 'PRIMARY'",
        history=[
            {"status": "ACCEPTED", "at": "2026-12-03T16:41:00.000Z"},
            {"status": "BAD_DATA", "at": "2026-12-03T16:50:00.000Z"},
        ],
    )

    body = compose_alert(submission, "rosters", PAGE).body

    assert "some groups may already have been changed" in body
    assert "Duplicate entry '...' for key '...'" in body
    assert "8977605235" not in body


def test_compose_alert_bad_data_lists_the_first_20_cers_lines():
    message = "\n".join(f"Row: {row} Failure: Invalid school year: 1718" for row in range(1, 31))
    submission = invalid_submission(status="BAD_DATA", cers_import_id=7, cers_message=message)

    body = compose_alert(submission, "rosters", PAGE).body

    assert body.count("Invalid school year: ...") == 20
    assert "1718" not in body
    assert "CERS's answer (30 lines;" in body
    assert "  ... and 10 more lines in the report." in body


def test_compose_alert_status_without_its_own_text_still_says_what_to_do():
    submission = invalid_submission(status="SOMETHING_NEW", failure="It went sideways.")

    alert = compose_alert(submission, "rosters", PAGE)

    assert alert.subject.endswith("roster.csv ended as SOMETHING_NEW")
    assert "It went sideways." in alert.body
    assert "runbook" in alert.body
