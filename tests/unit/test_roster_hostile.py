"""Whole-file answers for exports that are not a roster CSV at all say what the file is."""

import gzip
import io

from cers_groups.roster import HEADER, readable_size, refuse_oversized, validate_roster
from cers_groups.roster_rules import MAX_FILE_BYTES
from cers_groups.tenants import RuleSettings

ROSTER = (",".join(HEADER) + "\r\nGr5,19647331930015,2027,Math,7000000001,\r\n").encode()


def _errors(data: bytes) -> list[tuple[str, str]]:
    report = validate_roster(io.BytesIO(data))
    return [(problem.rule, problem.message) for problem in report.errors()]


def test_validate_roster_html_error_page_is_named_as_a_web_page() -> None:
    page = b"<html><head><style>body{margin:0;padding:0;}</style></head>\n<body>502</body></html>\n"

    (rule, message), *_ = _errors(page)

    assert rule == "header-mismatch"
    assert "web page, JSON or XML, not a roster" in message
    assert "502" not in message


def test_validate_roster_json_export_is_named_as_data_not_a_header() -> None:
    rules = [rule for rule, _ in _errors(b'  [{"group_name": "Gr5"}]\n')]
    messages = dict(_errors(b'  [{"group_name": "Gr5"}]\n'))

    assert rules == ["header-mismatch", "no-data-rows"]
    assert "web page, JSON or XML" in messages["header-mismatch"]


def test_validate_roster_second_byte_order_mark_is_named() -> None:
    (rule, message), *_ = _errors(b"\xef\xbb\xbf" * 2 + ROSTER)

    assert rule == "header-mismatch"
    assert "second byte order mark" in message


def test_validate_roster_header_of_spaces_counts_as_blank() -> None:
    (rule, message), *_ = _errors(b"   \r\n" + ROSTER)

    assert rule == "header-mismatch"
    assert message.endswith("The first line is blank: delete it.")


def test_validate_roster_compressed_exports_are_binary_whatever_their_bytes() -> None:
    for data in (gzip.compress(ROSTER * 3, mtime=0), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + ROSTER):
        assert [rule for rule, _ in _errors(data)] == ["binary-file"]


def test_refuse_oversized_decides_from_the_size_alone() -> None:
    rules = RuleSettings(max_file_bytes=1024)

    assert refuse_oversized(1024, rules) is None
    report = refuse_oversized(1025, rules)
    [problem] = report.errors()
    assert (problem.rule, problem.row, report.valid, report.rows) == (
        "file-over-size-limit",
        None,
        False,
        0,
    )
    assert problem.message.startswith("The file is 1.0 KB; this district's files may be at most")


def test_refuse_oversized_default_leaves_room_to_split_what_cers_would_refuse() -> None:
    report = refuse_oversized(3 * 1024**3 // 2)

    assert RuleSettings().max_file_bytes > MAX_FILE_BYTES
    assert refuse_oversized(RuleSettings().max_file_bytes) is None
    assert refuse_oversized(612 * 1024 * 1024) is None
    assert report.summary_message("file-over-size-limit").startswith(
        "The file is 1.5 GB; this district's files may be at most 1.0 GB, so the file was not read."
    )


def test_readable_size_in_the_unit_people_use() -> None:
    sizes = [999, 5 * 1024, 612 * 1024 * 1024, 3 * 1024**3 // 2]

    assert [readable_size(size) for size in sizes] == ["999 bytes", "5.0 KB", "612 MB", "1.5 GB"]
