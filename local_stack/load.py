"""The load run: many districts drop many rosters at once, through concurrent handlers.

``run_load`` starts a local stack with one Cognito user per district and a CERS stand-in that
takes ``processing_delay`` seconds to process each accepted import, starts the handlers in
several processes (``ConcurrentRunner``), drops every district's files as fast as it can, one
district's export after another (as each district's SIS drops its files together), and waits
until every submission is final.
It returns what happened, as the stand-in, the Cognito proxy and the submissions table saw it;
the e2e load test asserts on it and ``bench/load.py`` prints it.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cers_groups.roster_rules import HEADER_LINE
from cers_groups.submissions import FINAL, Status
from local_stack.concurrent_runner import Concurrency, ConcurrentRunner
from local_stack.stack import LocalStack, district_user, local_stack

SCHOOL_YEAR = "2027"
STUDENTS_PER_GROUP = 25
# CERS's processing time for an accepted import (small files finish in seconds): eight times
# the local follow window (0.25 s), so the uploader leaves files ACCEPTED and a district's next
# file has to wait for the poller.
PROCESSING_DELAY = 2.0
# The uploader's deployed concurrency, two validators (this machine has two cores).
DEPLOYED = Concurrency()


@dataclass
class LoadResult:
    """What one load run did. Times in seconds from the first drop."""

    files: int
    districts: int
    drop_seconds: float  # until the last file was in the bucket
    final_seconds: float  # until the last submission reached its final status
    statuses: Counter
    posts: int  # POSTs to the CERS stand-in
    post_answers: Counter  # their HTTP statuses
    waited: int  # submissions that were WAITING for an earlier upload of their district
    dropped_order: dict[str, list[str]]  # per district, file names in drop order
    cers_order: dict[str, list[str]]  # per district, file names in CERS import order
    uploads_at_once: dict[str, int]  # per district, the most the stand-in saw in progress
    sign_ins: dict[str, int]  # per district, InitiateAuth calls
    unattributed_sign_ins: int  # InitiateAuth calls naming no user
    alerts: list[dict] = field(default_factory=list)

    @property
    def files_per_minute(self) -> float:
        return 60 * self.files / self.final_seconds

    def summary(self) -> dict:
        return {
            "files": self.files,
            "districts": self.districts,
            "drop_seconds": round(self.drop_seconds, 2),
            "final_seconds": round(self.final_seconds, 2),
            "files_per_second": round(self.files / self.final_seconds, 2),
            "files_per_minute": round(self.files_per_minute, 1),
            "statuses": dict(self.statuses),
            "posts": self.posts,
            "waited": self.waited,
            "max_sign_ins_per_district": max(self.sign_ins.values(), default=0),
            "unattributed_sign_ins": self.unattributed_sign_ins,
            "max_uploads_at_once_per_district": max(self.uploads_at_once.values(), default=0),
            "districts_in_drop_order": sum(
                self.cers_order[district] == names for district, names in self.dropped_order.items()
            ),
            "alerts": len(self.alerts),
        }


def district_ids(count: int) -> list[str]:
    return [f"load-{number:02d}" for number in range(1, count + 1)]


def schools_of(district_number: int) -> tuple[str, str]:
    """Two 14-digit CDS-shaped school ids of the district's own."""
    return tuple(f"99{district_number:05d}{school:07d}" for school in (1, 2))


def write_tenants(path: Path, districts: int) -> Path:
    """A tenants template: each district its folder, its schools and its alert address."""
    document = {
        "operator_emails": ["cers-ops@vendor.example.org"],
        "districts": [
            {
                "id": district,
                "name": f"Load Test District {number}",
                "cers_endpoint": "https://cers-standin.invalid/groups/imports/",
                "alert_emails": [f"it@{district}.example.org"],
                "rules": {
                    "school_years": [int(SCHOOL_YEAR)],
                    "allowed_schools": list(schools_of(number)),
                },
            }
            for number, district in enumerate(district_ids(districts), start=1)
        ],
    }
    path.write_text(json.dumps(document, indent=2))
    return path


def write_roster(path: Path, district_number: int, file_number: int) -> Path:
    """A valid roster with groups of its own (so no file is a duplicate of another, and none
    shrinks a group an earlier file sent): one group per school, a teacher and its students."""
    lines = [HEADER_LINE]
    for school_number, school in enumerate(schools_of(district_number), start=1):
        group = f"D{district_number:02d}_F{file_number:02d}_S{school_number}_Math"
        lines.append(f"{group},{school},{SCHOOL_YEAR},Math,,teacher{file_number}@example.org")
        first = 1_000_000_000 + district_number * 100_000 + file_number * 1_000
        lines += [
            f"{group},{school},{SCHOOL_YEAR},Math,{first + school_number * 100 + student},"
            for student in range(STUDENTS_PER_GROUP)
        ]
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def run_load(
    workdir: Path,
    districts: int = 20,
    files_per_district: int = 10,
    concurrency: Concurrency = DEPLOYED,
    processing_delay: float = PROCESSING_DELAY,
    timeout: float = 900.0,
) -> LoadResult:
    """Drop ``districts`` x ``files_per_district`` rosters and follow them to the end."""
    tenants = write_tenants(workdir / "tenants.json", districts)
    numbers = range(1, districts + 1)
    schools = frozenset(school for number in numbers for school in schools_of(number))
    files = [
        (district, write_roster(workdir / f"{district}-{file:02d}.csv", number, file))
        for number, district in enumerate(district_ids(districts), start=1)
        for file in range(1, files_per_district + 1)
    ]
    with local_stack(
        schools,
        tenants,
        processing_delay=processing_delay,
        login_per_district=True,
    ) as stack:
        runner = ConcurrentRunner(
            stack.resources.validate_queue_url,
            stack.resources.upload_queue_url,
            workdir / "logs",
            concurrency,
        )
        with runner:
            started = datetime.now(UTC)
            clock = time.monotonic()
            for district, path in files:
                stack.drop(path, district=district)
            drop_seconds = time.monotonic() - clock
            runner.wait_until(lambda: _all_final(stack, len(files)), timeout=timeout)
        return _result(stack, files, started, drop_seconds)


def _all_final(stack: LocalStack, expected: int) -> bool:
    submissions = stack.submissions()
    return len(submissions) == expected and all(item["status"] in FINAL for item in submissions)


def _result(stack: LocalStack, files, started: datetime, drop_seconds: float) -> LoadResult:
    submissions = stack.submissions()
    last_final = max(_time(item["updated_at"]) for item in submissions)
    name_of_batch = {item.get("batch"): item["key"].rsplit("/", 1)[-1] for item in submissions}
    users = {district_user(district): district for district, _ in files}

    dropped_order: dict[str, list[str]] = {}
    for district, path in files:
        dropped_order.setdefault(district, []).append(path.name)
    cers_order: dict[str, list[str]] = {district: [] for district in dropped_order}
    for record in sorted(stack.standin.imports, key=lambda record: record.id):
        cers_order[users[record.creator]].append(name_of_batch.get(record.batch, record.batch))

    sign_ins = stack.cognito.initiate_auth_by_username()
    posts = stack.standin.received
    return LoadResult(
        files=len(files),
        districts=len(dropped_order),
        drop_seconds=drop_seconds,
        final_seconds=(last_final - started).total_seconds(),
        statuses=Counter(item["status"] for item in submissions),
        posts=len(posts),
        post_answers=Counter(post.http_status for post in posts),
        waited=sum(
            any(step["status"] == Status.WAITING for step in item["history"])
            for item in submissions
        ),
        dropped_order=dropped_order,
        cers_order=cers_order,
        uploads_at_once={
            users.get(user, user): most for user, most in stack.standin.uploads_at_once.items()
        },
        sign_ins={district: sign_ins.get(district_user(district), 0) for district in dropped_order},
        unattributed_sign_ins=sum(
            count for user, count in sign_ins.items() if users.get(user) is None
        ),
        alerts=stack.alert_emails(),
    )


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
