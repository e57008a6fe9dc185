"""Whole-file answers for exports that are not a roster CSV at all say what the file is."""

import gzip
import io

from cers_groups.roster import HEADER, validate_roster

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
