"""Reads of the submissions table, each served by its key or one of its secondary indexes.

- one submission by id: ``SubmissionStore.get``;
- a district's submissions by time: the ``by-district`` index;
- earlier submissions of the same bytes by the same district: the ``by-digest`` index;
- everything waiting on CERS or on a person, across districts: the sparse ``pending`` index.

No read scans the table, so each costs what it returns, whatever the table's size. Index reads
are eventually consistent: a step taken a moment ago may not show yet.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from cers_groups import aws_clients
from cers_groups.resources import BY_DIGEST_INDEX, BY_DISTRICT_INDEX, PENDING_INDEX
from cers_groups.submissions import PENDING, Status, digest_key


class SubmissionQueries:
    def __init__(self, table_name: str) -> None:
        self._table = aws_clients.table(table_name)

    def by_district(
        self,
        district: str,
        since: str | None = None,
        *,
        status: Status | str | None = None,
        newest_first: bool = True,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """A district's submissions created at or after ``since`` (an ISO time), by time."""
        condition = Key(BY_DISTRICT_INDEX.partition_key).eq(district)
        if since:
            condition &= Key(BY_DISTRICT_INDEX.sort_key).gte(since)
        request: dict[str, Any] = {
            "IndexName": BY_DISTRICT_INDEX.name,
            "KeyConditionExpression": condition,
            "ScanIndexForward": not newest_first,
        }
        if status is not None:
            request["FilterExpression"] = Attr("status").eq(str(status))
        return _first(self._pages(request), limit)

    def latest(self, district: str, status: Status) -> dict[str, Any] | None:
        """The district's newest submission in ``status``."""
        found = self.by_district(district, status=status, limit=1)
        return found[0] if found else None

    def by_digest(self, district: str, digest: str) -> list[dict[str, Any]]:
        """The district's submissions of the file with this MD5 digest, oldest first."""
        condition = Key(BY_DIGEST_INDEX.partition_key).eq(digest_key(district, digest.upper()))
        return list(
            self._pages({"IndexName": BY_DIGEST_INDEX.name, "KeyConditionExpression": condition})
        )

    def pending(self, statuses: Iterable[Status] = PENDING) -> list[dict[str, Any]]:
        """Submissions waiting in ``statuses`` (by default ACCEPTED and ON_HOLD), oldest
        change first, across every district."""
        found = []
        for status in sorted(statuses):
            condition = Key(PENDING_INDEX.partition_key).eq(str(status))
            found.extend(
                self._pages({"IndexName": PENDING_INDEX.name, "KeyConditionExpression": condition})
            )
        return sorted(found, key=lambda item: item[PENDING_INDEX.sort_key])

    def _pages(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        while True:
            response = self._table.query(**request)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


def _first(items: Iterator[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    found = []
    for item in items:
        found.append(item)
        if limit is not None and len(found) >= limit:
            break
    return found
