import json
from datetime import date

import pytest

from cers_groups.errors import ConfigurationError
from cers_groups.tenants import RuleSettings, Tenants, load_tenants, school_year_of


def tenants(*districts: dict) -> Tenants:
    return Tenants.model_validate({"districts": list(districts)})


def test_district_for_key_matches_only_its_own_folder():
    config = tenants({"id": "sample-usd"}, {"id": "other-usd"})

    assert config.district_for_key("incoming/sample-usd/roster.csv").id == "sample-usd"
    assert config.district_for_key("incoming/other-usd/a/b.csv").id == "other-usd"
    assert config.district_for_key("incoming/sample-usd-2/roster.csv") is None
    assert config.district_for_key("incoming/roster.csv") is None
    assert config.district_for_key("reports/sample-usd/roster.csv") is None


def test_district_defaults_secret_name_and_prefix():
    [district] = tenants({"id": "sample-usd"}).districts

    assert district.secret_name == "cers-groups/sample-usd/cers-credentials"
    assert district.prefix == "incoming/sample-usd/"


@pytest.mark.parametrize(
    ("today", "expected"),
    [(date(2026, 12, 3), 2027), (date(2027, 6, 30), 2027), (date(2027, 7, 1), 2028)],
)
def test_school_year_of_turns_over_on_july_first(today, expected):
    assert school_year_of(today) == expected


def test_rule_settings_default_years_are_current_and_next():
    assert RuleSettings().accepted_school_years(date(2026, 12, 3)) == (2027, 2028)
    assert RuleSettings(school_years=(2026,)).accepted_school_years() == (2026,)


def test_plain_http_endpoint_needs_local_mark_and_loopback():
    local = {"cers_endpoint": "http://127.0.0.1:8080/groups/imports/"}

    assert tenants({"id": "d1", **local, "cers_endpoint_is_local": True})
    with pytest.raises(ValueError, match="https"):
        tenants({"id": "d1", **local})
    with pytest.raises(ValueError, match="https"):
        tenants(
            {
                "id": "d1",
                "cers_endpoint": "http://cers.example.org/groups/imports/",
                "cers_endpoint_is_local": True,
            }
        )


def test_load_tenants_names_the_broken_field(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text('{"districts": [{"id": "Bad District"}]}')

    with pytest.raises(ConfigurationError, match=r"districts\.0\.id"):
        load_tenants(path)


def test_load_tenants_refuses_duplicate_ids(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text('{"districts": [{"id": "d1"}, {"id": "d1"}]}')

    with pytest.raises(ConfigurationError, match="unique"):
        load_tenants(path)


def test_deployment_settings_default_to_the_documented_values():
    deployment = tenants({"id": "d1"}).deployment

    assert deployment.roster_retention_days == 30
    assert deployment.report_retention_days == 90
    assert deployment.submission_ttl_days == 365
    assert deployment.access_log_retention_days == 365
    assert deployment.sftp_enabled is False


def test_deployment_settings_are_read_from_the_file(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text(
        '{"districts": [{"id": "d1"}], "deployment": {"roster_retention_days": 7,'
        ' "submission_ttl_days": null, "sftp_enabled": true}}'
    )

    deployment = load_tenants(path).deployment

    assert deployment.roster_retention_days == 7
    assert deployment.report_retention_days == 90
    assert deployment.submission_ttl_days is None
    assert deployment.sftp_enabled is True


@pytest.mark.parametrize(
    ("deployment", "field"),
    [
        ({"roster_retention_days": 0}, "roster_retention_days"),
        ({"report_retention_days": -1}, "report_retention_days"),
        ({"submission_ttl_days": 0}, "submission_ttl_days"),
        ({"sftp": True}, "sftp"),
    ],
)
def test_load_tenants_refuses_bad_deployment_settings(tmp_path, deployment, field):
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"districts": [{"id": "d1"}], "deployment": deployment}))

    with pytest.raises(ConfigurationError, match=rf"deployment\.{field}"):
        load_tenants(path)


@pytest.mark.parametrize(
    "principal",
    [
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:role/sis-export",
        "arn:aws:iam::123456789012:role/vendor/path/sis-export",
        "arn:aws:iam::123456789012:user/exporter",
        "arn:aws-us-gov:iam::123456789012:role/sis-export",
    ],
)
def test_exporter_principal_accepts_iam_arns(principal):
    [district] = tenants({"id": "d1", "exporter_principal": principal}).districts

    assert district.exporter_principal == principal


@pytest.mark.parametrize(
    "principal",
    [
        "123456789012",
        "arn:aws:iam::12345:role/x",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:group/exporters",
        "*",
    ],
)
def test_exporter_principal_refuses_anything_else(principal):
    with pytest.raises(ValueError, match="exporter_principal"):
        tenants({"id": "d1", "exporter_principal": principal})


@pytest.mark.parametrize(
    ("hours", "ok"), [(1, True), (26, True), (168, True), (0, False), (169, False)]
)
def test_heartbeat_hours_within_what_an_alarm_can_watch(hours, ok):
    district = {"id": "d1", "heartbeat_hours": hours}
    if ok:
        assert tenants(district).districts[0].heartbeat_hours == hours
    else:
        with pytest.raises(ValueError, match="heartbeat_hours"):
            tenants(district)


def test_sftp_users_are_valid_and_unique():
    assert tenants({"id": "d1", "sftp_user": "north.sis"}).districts[0].sftp_user == "north.sis"
    with pytest.raises(ValueError, match="sftp_user"):
        tenants({"id": "d1", "sftp_user": "x"})
    with pytest.raises(ValueError, match="sftp_user"):
        tenants({"id": "d1", "sftp_user": "has space"})
    with pytest.raises(ValueError, match="sftp_user names must be unique"):
        tenants({"id": "d1", "sftp_user": "shared"}, {"id": "d2", "sftp_user": "shared"})
