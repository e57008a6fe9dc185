from cers_groups.alerts import SUBJECT_LIMIT, compose_alert, redact_cers_message


def invalid_submission(**overrides) -> dict:
    submission = {
        "submission_id": "20261203T164012Z-abc123def456",
        "district": "sample-usd",
        "key": "incoming/roster.csv",
        "status": "INVALID",
        "rows": 40,
        "problem_count": 2,
        "problems": [
            {"rule": "group-name-characters", "row": 7, "message": "Group names may only ..."},
            {"rule": "school-year-format", "row": 12, "message": "school_year must be ..."},
        ],
        "report_key": "reports/20261203T164012Z-abc123def456/validation.json",
    }
    return {**submission, **overrides}


def test_compose_alert_invalid_names_district_file_rules_rows_and_report():
    alert = compose_alert(invalid_submission(), "rosters")

    assert alert.subject == "CERS groups [sample-usd] roster.csv failed validation"
    assert "row 7 [group-name-characters]" in alert.body
    assert "row 12 [school-year-format]" in alert.body
    assert "s3://rosters/reports/20261203T164012Z-abc123def456/validation.json" in alert.body
    assert "What to do:" in alert.body
    assert "20261203T164012Z-abc123def456" in alert.body


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
    )

    body = compose_alert(submission, "rosters").body

    assert "99123450122222" not in body
    assert "Science" not in body
    assert "Algebra_P3" not in body
    assert "Row: 3 Failure: School [...] can not be found" in body
    assert "Row: 9 Failure: Invalid subject: ..." in body


def test_redact_cers_message_keeps_success_lines():
    assert redact_cers_message("Empty file") == "Empty file"
