import csv
import io
import json
from decimal import Decimal
from html.parser import HTMLParser

from cers_groups.report_page import render_report_page
from cers_groups.reports import (
    problems_csv,
    report_keys,
    unvalidated_document,
    with_submission,
)
from cers_groups.roster_report import iter_report_json
from tests.rosters import check, roster, row

SUBMISSION_ID = "20261203T164012Z-abc123def456"


def validation_document(**overrides) -> dict:
    document = {
        "file": "incoming/sample-usd/roster.csv",
        "version_id": "v1",
        "valid": False,
        "rows": 3000,
        "size": 120_000,
        "digest": "C4041639D4352F9CE2AE3C83C5117E61",
        "errors": [
            {"rule": "school-year-format", "row": 8, "message": "school_year must be four digits."},
            {"rule": "school-year-format", "row": 9, "message": "school_year must be four digits."},
            {"rule": "field-count", "row": None, "message": "This row has 5 fields, 6 needed."},
        ],
        "warnings": [{"rule": "ssid-shape", "row": 4, "message": "student_ssid is not 10 digits."}],
        "submission_id": SUBMISSION_ID,
    }
    return {**document, **overrides}


def submission(**overrides) -> dict:
    item = {
        "submission_id": SUBMISSION_ID,
        "district": "sample-usd",
        "bucket": "rosters",
        "key": "incoming/sample-usd/roster.csv",
        "status": "INVALID",
        "dropped_at": "2026-12-03T16:40:12.000Z",
        "updated_at": "2026-12-03T16:40:13.250Z",
        "problem_count": Decimal(2001),
        "rule_counts": {"school-year-format": Decimal(2000), "field-count": Decimal(1)},
        "history": [
            {"status": "RECEIVED", "at": "2026-12-03T16:40:12.500Z"},
            {"status": "INVALID", "at": "2026-12-03T16:40:13.250Z"},
        ],
    }
    return {**item, **overrides}


class _Text(HTMLParser):
    """The page's text by element, to check what the markup says without a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        if data.strip():
            self.text.append((self.tags[-1] if self.tags else "", data.strip()))


def texts(page: str, tag: str) -> list[str]:
    parser = _Text()
    parser.feed(page)
    return [text for name, text in parser.text if name == tag]


def fact(page: str, name: str) -> str:
    """The value next to a row heading of a facts table."""
    start = page.index(f'<th scope="row">{name}</th><td>') + len(f'<th scope="row">{name}</th>')
    return page[start + len("<td>") : page.index("</td>", start)]


def test_report_keys_live_under_the_submission_folder():
    keys = report_keys(SUBMISSION_ID)

    assert keys.json == f"reports/{SUBMISSION_ID}/validation.json"
    assert keys.csv == f"reports/{SUBMISSION_ID}/problems.csv"
    assert keys.page == f"reports/{SUBMISSION_ID}/report.html"


def test_problems_csv_has_one_line_per_problem_with_severity():
    rows = list(csv.reader(io.StringIO(problems_csv(validation_document()))))

    assert rows == [
        ["severity", "rule", "row", "message"],
        ["error", "school-year-format", "8", "school_year must be four digits."],
        ["error", "school-year-format", "9", "school_year must be four digits."],
        ["error", "field-count", "", "This row has 5 fields, 6 needed."],
        ["warning", "ssid-shape", "4", "student_ssid is not 10 digits."],
    ]


def test_with_submission_adds_state_cers_answer_and_plain_numbers():
    item = submission(
        status="BAD_DATA",
        cers_import_id=Decimal(42),
        cers_status="BAD_DATA",
        cers_message="Row: 3 Failure: School [99123450122222] can not be found",
    )

    document = with_submission(validation_document(), item)

    assert document["status"] == "BAD_DATA"
    assert document["problem_count"] == 2001 and type(document["problem_count"]) is int
    assert document["rule_counts"] == {"school-year-format": 2000, "field-count": 1}
    assert document["cers"] == {
        "import_id": 42,
        "status": "BAD_DATA",
        "message": "Row: 3 Failure: School [99123450122222] can not be found",
    }
    assert document["errors"] == validation_document()["errors"]
    assert document["history"][-1] == {"status": "INVALID", "at": "2026-12-03T16:40:13.250Z"}


def test_unvalidated_document_keeps_the_report_shape():
    document = unvalidated_document(submission(status="REJECTED", key="incoming/x.csv", size=9))

    assert document == {
        "file": "incoming/x.csv",
        "version_id": None,
        "valid": None,
        "rows": None,
        "size": 9,
        "digest": None,
        "errors": [],
        "warnings": [],
    }


def test_report_page_groups_problems_by_rule_with_counts_and_rows():
    page = render_report_page(with_submission(validation_document(), submission()))

    assert texts(page, "h1") == ["roster.csv"]
    assert texts(page, "h2") == ["File", "Problems", "Warnings", "CERS", "History"]
    assert texts(page, "h3") == ["school-year-format", "field-count", "ssid-shape"]
    assert "2,001 problems in total, 3 rules broken." in page
    assert "Broken 2,000 times; 2 listed. Rows: 8, 9." in page
    assert "Broken 1 time; 1 listed. Rows: whole file." in page
    assert "1 problem listed. Rows: 4." in page
    assert "Nothing was sent to CERS." in page


def test_report_page_shows_cers_answer_in_full_and_when():
    item = submission(
        status="BAD_DATA",
        cers_import_id=42,
        cers_status="BAD_DATA",
        cers_digest="C4041639D4352F9CE2AE3C83C5117E61",
        cers_message="Row: 3 Failure: School [99123450122222] can not be found",
        history=[
            {"status": "UPLOADING", "at": "2026-12-03T16:41:00.000Z"},
            {"status": "BAD_DATA", "at": "2026-12-03T16:41:05.000Z"},
        ],
    )
    document = with_submission(validation_document(valid=True, errors=[], warnings=[]), item)

    page = render_report_page(document)

    assert "School [99123450122222] can not be found" in texts(page, "pre")[0]
    assert fact(page, "Import id") == "42"
    assert fact(page, "Answered at") == "2026-12-03 16:41:05 UTC"
    assert fact(page, "Same bytes as validated") == "yes"
    assert "No problems: the file meets every rule." in page


def test_report_page_shows_normalization_changes_in_any_shape():
    listed = [{"row": 4, "column": "subject_code", "change": "math -> Math"}]
    counted = {"subject case": 12, "trimmed spaces": 3}

    listed_page = render_report_page(
        with_submission(validation_document(), submission(changes=listed))
    )
    counted_page = render_report_page({**validation_document(), "changes": counted})

    assert "Normalization changes" in texts(listed_page, "h2")
    assert "<tr><th>row</th><th>column</th><th>change</th></tr>" in listed_page
    assert "math -&gt; Math" in listed_page
    assert "trimmed spaces" in texts(counted_page, "td")


def test_report_page_escapes_every_value():
    document = validation_document(file="incoming/sample-usd/<script>alert(1)</script>.csv")
    document["errors"][0]["message"] = '<img src=x onerror="alert(1)">'
    item = submission(district='"><b>x', key=document["file"])

    page = render_report_page(with_submission(document, item))

    assert "<script" not in page and "<img" not in page and '"><b>' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in page


def test_report_page_of_a_file_never_read_has_no_problem_section():
    item = submission(
        status="REJECTED",
        key="incoming/roster.csv",
        district="operators",
        failure="The file is not inside any district's folder.",
    )
    page = render_report_page(with_submission(unvalidated_document(item), item))

    assert "Problems" not in texts(page, "h2")
    assert "The file is not inside any district&#x27;s folder." in page
    assert "not validated" in texts(page, "td")


def test_report_page_of_a_held_file_says_how_to_release_or_reject_it():
    held = {"status": "ON_HOLD", "at": "2026-12-03T16:40:13.250Z"}
    item = submission(status="ON_HOLD", history=[held])

    page = render_report_page(with_submission(validation_document(valid=True, errors=[]), item))

    assert (
        "<strong>ON_HOLD</strong>: The roster file was held back as a likely broken export at "
        in (page)
    )
    assert "cers-groups release &lt;submission&gt;" in page
    assert "cers-groups reject &lt;submission&gt;" in page


def test_validation_report_lists_the_first_problems_of_each_rule_and_counts_all():
    rows = [row(ssid=f"{100_000_000 + n}") for n in range(1_500)]  # 9 digits: a warning each
    report = check(roster(row(ssid="", login="t1@sampleusd.example.org"), *rows))

    capped = json.loads("".join(iter_report_json(report, "roster.csv", listed_per_rule=1_000)))
    whole = json.loads("".join(iter_report_json(report, "roster.csv")))

    assert capped["warning_count"] == whole["warning_count"] == 1_500
    assert capped["listed_per_rule"] == 1_000
    assert [item["row"] for item in capped["warnings"]] == list(range(2, 1_002))
    assert len(whole["warnings"]) == 1_500
    assert "listed_per_rule" not in whole


def test_validation_report_lists_the_first_changes_of_each_kind():
    report = check(roster(row()))
    changes = [{"change": "values-trimmed", "row": n} for n in range(1, 6)]
    changes.append({"change": "quotes-removed", "row": 9})

    document = json.loads(
        "".join(iter_report_json(report, "r.csv", lists={"change_log": changes}, listed_per_rule=2))
    )

    assert document["change_log"] == [changes[0], changes[1], changes[5]]
