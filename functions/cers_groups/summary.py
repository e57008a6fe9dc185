"""The daily summary: one e-mail a day to each district that asks for it (``daily_summary``).

It counts the district's submissions of the last 24 hours by status and names their files: the
ones sent to CERS, the ones that needed a person (each of those also had its own alert) and the
ones still under way. Only file names, counts, statuses and ids: never a row of a roster.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups.alerts import Alert, counted, fit_subject, publish_alert, readable_time
from cers_groups.events import file_name
from cers_groups.observability import logger, metrics
from cers_groups.settings import Settings
from cers_groups.submissions import FAILURES, Status, SubmissionStore
from cers_groups.tenants import District

WINDOW = timedelta(hours=24)
SENT = frozenset({Status.ACCEPTED, Status.PROCESSED})
LISTED_FILES = 50


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime) -> "Window":
        return cls(end - WINDOW, end)

    def iso(self) -> tuple[str, str]:
        """Both ends as the submissions table writes times (milliseconds, ``Z``)."""
        return _iso(self.start), _iso(self.end)


class SummaryFailed(Exception):
    """At least one district's summary could not be sent; the others were."""


def send_daily_summaries(settings: Settings, end: datetime) -> list[str]:
    """Publish the summary of the 24 hours before ``end`` for every district that asks for it;
    the districts served. A district that fails does not stop the others."""
    window = Window.ending(end)
    store = SubmissionStore(settings.submissions_table)
    sent, failed = [], []
    for district in (d for d in settings.tenants.districts if d.daily_summary):
        try:
            submissions = store.created_between(district.id, *window.iso())
            summary = compose_daily_summary(district, submissions, window)
            publish_alert(settings.alert_topic_arn, summary, audience=district.id)
        except Exception:  # noqa: BLE001 - one district's failure must not stop the others
            logger.exception("Daily summary not sent", district=district.id)
            failed.append(district.id)
            continue
        logger.info("Daily summary sent", district=district.id, submissions=len(submissions))
        sent.append(district.id)
    metrics.add_metric(name="DailySummariesSent", unit=MetricUnit.Count, value=len(sent))
    if failed:
        metrics.add_metric(name="DailySummariesFailed", unit=MetricUnit.Count, value=len(failed))
        raise SummaryFailed(f"daily summary not sent for districts {', '.join(failed)}")
    return sent


def compose_daily_summary(
    district: District, submissions: list[dict[str, Any]], window: Window
) -> Alert:
    statuses = Counter(str(item["status"]) for item in submissions)
    sent = [item for item in submissions if item["status"] in SENT]
    failed = [item for item in submissions if item["status"] in FAILURES]
    under_way = [item for item in submissions if item not in sent and item not in failed]
    start, end = (readable_time(moment) for moment in window.iso())
    subject = (
        f"CERS groups [{district.id}] daily summary: {counted(len(sent), 'file')} sent to CERS,"
        f" {len(failed):,} failed"
    )
    sections = [
        f"Roster files dropped by district {_named(district)} between {start} and {end}:"
        f" {counted(len(submissions), 'file')}."
        + ("" if submissions else " No file arrived: check that the SIS export ran."),
        _by_status(statuses),
        _listed(f"Sent to CERS: {counted(len(sent), 'file')}", sent, _sent_line),
        _listed(
            f"Failed: {counted(len(failed), 'file')} (each had its own alert with what to do)",
            failed,
            _other_line,
        ),
        _listed(f"Still under way: {counted(len(under_way), 'file')}", under_way, _other_line),
    ]
    body = "\n\n".join(section for section in sections if section) + "\n"
    return Alert(subject=fit_subject(subject), body=body)


def _named(district: District) -> str:
    return f"{district.id} ({district.name})" if district.name else district.id


def _by_status(statuses: Counter) -> str:
    if not statuses:
        return ""
    counts = ", ".join(f"{status} {count:,}" for status, count in sorted(statuses.items()))
    return f"By status: {counts}."


def _listed(title: str, items: list[dict[str, Any]], line) -> str:
    if not items:
        return ""
    lines = [f"{title}:", *(f"  - {line(item)}" for item in items[:LISTED_FILES])]
    if len(items) > LISTED_FILES:
        lines.append(f"  ... and {counted(len(items) - LISTED_FILES, 'more file')}.")
    return "\n".join(lines)


def _sent_line(item: dict[str, Any]) -> str:
    parts = [file_name(item["key"]), item["status"]]
    if item.get("rows") is not None:
        parts.append(counted(int(item["rows"]), "data row"))
    if item.get("cers_import_id") is not None:
        parts.append(f"CERS import {item['cers_import_id']}")
    return ", ".join(parts) + _dropped(item)


def _other_line(item: dict[str, Any]) -> str:
    return f"{file_name(item['key'])}, {item['status']}, submission {item['submission_id']}" + (
        _dropped(item)
    )


def _dropped(item: dict[str, Any]) -> str:
    when = item.get("dropped_at") or item.get("created_at")
    return f" (dropped {readable_time(when)})" if when else ""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
