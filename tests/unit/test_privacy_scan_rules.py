"""The session's privacy scan (tests/privacy.py) finds what it must and never prints it."""

import json

from tests.privacy import INPUT_SSID, Record, describe, fingerprint, login_tokens, scan

SSID = "2993088378"
LOGIN = "mnguyen@sampleusd.example.org"
PASSWORD = "Local-Roster-Pass-42"
JWT = "eyJraWQiOiJhYmMiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"


def _inputs() -> list[Record]:
    body = f"group_name,student_ssid,group_user_login\nG1,{SSID},\nG1,,{LOGIN.upper()}\n"
    return [
        Record("ssids", "t::drop", values=[SSID]),
        Record("logins", "t::drop", values=sorted(login_tokens(body))),
        Record("secrets", "t::drop", values=[PASSWORD]),
    ]


def _output(channel: str, text: str) -> Record:
    return Record("output", "tests/e2e/test_x.py::test_y", channel, text)


def test_scan_finds_each_kind_of_value_in_each_channel():
    outputs = [
        _output("log:cers-groups", json.dumps({"message": "Row", "ssid": SSID})),
        _output("metric", json.dumps({"_aws": {}, "who": f"key=incoming/{LOGIN}.csv"})),
        _output("sns", json.dumps({"Message": f"Signed in with {PASSWORD}"})),
        _output("dynamodb:cers-groups-submissions", json.dumps({"token": JWT})),
    ]

    result = scan(_inputs() + outputs)

    found = sorted((finding.channel, finding.what) for finding in result.findings)
    assert found == [
        ("dynamodb:cers-groups-submissions", "JWT"),
        ("log:cers-groups", "SSID"),
        ("metric", "login"),
        ("sns", "secret"),
    ]
    assert result.counts["log"] == result.counts["metric"] == result.counts["sns"] == 1


def test_scan_report_never_holds_the_values():
    outputs = [_output("log:cers-groups", f"{SSID} {LOGIN} {PASSWORD} {JWT}")]

    report = describe(scan(_inputs() + outputs))

    for value in (SSID, LOGIN, PASSWORD, JWT, "eyJ"):
        assert value not in report
    assert f"SSID #{fingerprint(SSID)}" in report


def test_scan_ignores_numbers_and_addresses_that_are_not_inputs():
    outputs = [
        _output("dynamodb:cers-groups-submissions", json.dumps({"expires_at": 1796325595})),
        _output("sns", "Reply to district-it@sampleusd.example.org; rows 12345678901"),
        _output("log:cers-groups", "Reply to district-mnguyen@sampleusd.example.org"),
    ]

    assert scan(_inputs() + outputs).findings == []


def test_scan_reports_an_incomplete_scan():
    records = [*_inputs(), Record("error", "t::x", "_read_items", "EndpointConnectionError()")]

    result = scan(records)

    assert result.errors == [records[-1]]
    assert "scan incomplete in t::x [_read_items]" in describe(result)


def test_scan_takes_whole_fields_of_ten_digits_from_a_roster_as_ssids():
    body = 'G1,"2993088378",\n2993088379,G2\nreports/20261203T193604Z-0284123456d5/x,12345678901\n'

    assert INPUT_SSID.findall(body) == ["2993088378", "2993088379"]
