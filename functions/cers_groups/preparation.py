"""Getting a dropped roster ready for CERS: normalize, validate, and split if too big.

The steps, for one dropped object:

1. When the district's ``rules.normalize`` is on, the normalizer writes a fixed copy to a
   temporary file. When it changed anything, the copy is stored at
   ``normalized/<submission id>/<file name>``; the dropped object stays as it was.
2. The validator checks the bytes that would be sent (the copy, or the dropped object). Its
   problems are reported against the rows of the dropped file (``row``), with the row of the
   normalized copy beside it (``normalized_row``).
3. A file whose only errors are its size (rows over the district's ``row_limit``, bytes over
   500 MB) is split at school boundaries into ``parts/<submission id>/part-NNN.csv``, each
   sent as a submission of its own, in order. A school too big for a part is an error.
4. The whole report goes to ``reports/<submission id>/validation.json``.

A file over the district's ``rules.max_file_bytes`` is refused from the size S3 reported, before
any of these steps: it is never read.

Files are worked on in a temporary directory (Lambda's /tmp), never in memory.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cers_groups import storage
from cers_groups.events import DroppedObject, file_name
from cers_groups.normalize import NormalizeResult, normalize_roster
from cers_groups.reports import LISTED_PER_RULE, report_keys
from cers_groups.resources import NORMALIZED_PREFIX, PARTS_PREFIX
from cers_groups.roster import RosterReport, refuse_oversized, validate_roster
from cers_groups.roster_parts import SplitResult, split_roster
from cers_groups.roster_report import (
    iter_report_json,
    problem_fields,
    write_csv_header,
    write_problems_csv,
)
from cers_groups.roster_rules import SIZE_RULES, Severity
from cers_groups.submissions import PROBLEMS_KEPT, digest_key
from cers_groups.tenants import District

S3_KEY_BYTES = 1024  # S3's longest key, in bytes of UTF-8


@dataclass
class Prepared:
    """What the validator records: the verdict, the item's fields, and the parts if split."""

    valid: bool
    fields: dict[str, Any]
    parts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def split(self) -> bool:
        return bool(self.parts)


def prepare_roster(dropped: DroppedObject, submission_id: str, district: District, bucket: str):
    """Normalizes, validates and if needed splits one dropped roster; see the module text."""
    with tempfile.TemporaryDirectory(prefix="cers-groups-") as work:
        return _Preparation(dropped, submission_id, district, bucket, Path(work)).run()


class _Preparation:
    def __init__(self, dropped, submission_id: str, district: District, bucket: str, work: Path):
        self.dropped = dropped
        self.submission_id = submission_id
        self.district = district
        self.rules = district.rules
        self.bucket = bucket
        self.work = work
        self.normalized: NormalizeResult | None = None
        self.normalized_key: str | None = None
        self.normalized_version: str | None = None
        self.original_version: str | None = dropped.version_id

    def run(self) -> Prepared:
        report = refuse_oversized(self._dropped_size(), self.rules)
        split = None
        if report is None:
            report = self._validate()
            split = self._split_if_only_too_big(report)

        keys = report_keys(self.submission_id)
        report_key = keys.json
        storage.put_report_stream(self.bucket, report_key, self._report_json(report, split))
        self._put_problems_csv(report, keys.csv)
        prepared = Prepared(
            valid=report.valid, fields=self._fields(report, report_key), parts=self._parts(split)
        )
        report.close()
        if self.normalized:
            self.normalized.close()
        return prepared

    # --- steps ------------------------------------------------------------------------------

    def _dropped_size(self) -> int:
        """From the S3 event; a HeadObject only for an event that did not say."""
        if self.dropped.size is not None:
            return self.dropped.size
        return storage.object_size(self.dropped.bucket, self.dropped.key, self.dropped.version_id)

    def _validate(self) -> RosterReport:
        if self.rules.normalize:
            self._normalize()

        with self._open_validated() as body:
            return validate_roster(body, self.rules, name=file_name(self.dropped.key))

    def _open_original(self) -> BinaryIO:
        roster = storage.open_roster(self.dropped.bucket, self.dropped.key, self.dropped.version_id)
        # The version read is the version sent, even if the key is overwritten meanwhile.
        self.original_version = roster.version_id
        return roster.body

    def _open_validated(self) -> BinaryIO:
        if self.normalized_key:
            return (self.work / "normalized.csv").open("rb")
        return self._open_original()

    def _normalize(self) -> None:
        path = self.work / "normalized.csv"
        with path.open("wb") as out:
            self.normalized = normalize_roster(self._open_original, out)
        if not self.normalized.changed:
            return

        folder = f"{NORMALIZED_PREFIX}{self.submission_id}/"
        self.normalized_key = folder + _fit_key(folder, file_name(self.dropped.key))
        self.normalized_version = storage.put_file(self.bucket, self.normalized_key, str(path))

    def _split_if_only_too_big(self, report: RosterReport) -> SplitResult | None:
        errors = report.broken_rules(Severity.ERROR)
        if not errors or not errors <= SIZE_RULES:
            return None

        folder = self.work / "parts"
        folder.mkdir()
        split = split_roster(
            self._open_validated, _part_opener(folder), row_limit=self.rules.row_limit
        )
        if split.school_too_big is not None:
            report.add("school-over-row-limit", split.school_too_big, rows=split.school_rows)
            return split

        for part in split.parts:
            key = f"{PARTS_PREFIX}{self.submission_id}/{_part_name(part.number)}"
            part.key = key
            part.version_id = storage.put_file(
                self.bucket, key, str(folder / _part_name(part.number))
            )
        return split

    # --- what is recorded --------------------------------------------------------------------

    def _row_map(self) -> Callable[[int], int] | None:
        return self.normalized.row_map if self.normalized_key else None

    def _put_problems_csv(self, report: RosterReport, key: str) -> None:
        """Every problem as a CSV row, written to a work file first: memory stays flat."""
        path = self.work / "problems.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            write_csv_header(out)
            write_problems_csv(report, out, file_name(self.dropped.key), self._row_map())
        storage.put_file(self.bucket, key, str(path), content_type="text/csv")

    def _fields(self, report: RosterReport, report_key: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "rows": report.rows,
            "report_key": report_key,
            **problem_fields(report, PROBLEMS_KEPT, self._row_map()),
        }
        if report.digest:  # a file refused unread has none
            fields["digest"] = report.digest
            fields["district_digest"] = digest_key(self.district.id, report.digest)
        if self.original_version:
            fields["version_id"] = self.original_version
        if self.normalized is not None:
            fields["normalization"] = _normalization_summary(self.normalized)
        if self.normalized_key:
            fields["upload_key"] = self.normalized_key
            if self.normalized_version:
                fields["upload_version_id"] = self.normalized_version
        return fields

    def _parts(self, split: SplitResult | None) -> list[dict[str, Any]]:
        if split is None or split.school_too_big is not None:
            return []
        stem = file_name(self.dropped.key).rsplit(".", 1)[0]
        parts = []
        for part in split.parts:
            item = {
                "upload_key": part.key,
                "upload_name": f"{stem}-part-{part.number:03d}-of-{len(split.parts):03d}.csv",
                "rows": part.rows,
                "size": part.size,
                "digest": part.digest,
                "district_digest": digest_key(self.district.id, part.digest),
                "part": part.number,
                "parts": len(split.parts),
                "first_row": part.first_row,
            }
            if part.version_id:
                item["upload_version_id"] = part.version_id
            parts.append(item)
        return parts

    def _report_json(self, report: RosterReport, split: SplitResult | None):
        extra: dict[str, Any] = {"version_id": self.dropped.version_id}
        lists = {}
        normalized = self.normalized
        if normalized is not None and normalized.refused is None:
            extra["validated"] = "normalized" if self.normalized_key else "original"
            extra["normalization"] = {
                **_normalization_summary(normalized),
                "key": self.normalized_key,
                "version_id": self.normalized_version,
                "note": (
                    "The verdict is on the normalized copy, which is what is sent to CERS. "
                    "row is the row in the dropped file; normalized_row the row in the copy."
                    if self.normalized_key
                    else "Normalizing changed nothing; the dropped file is sent as it is."
                ),
                "changes": [
                    {
                        "change": summary.kind,
                        "count": summary.count,
                        "first_rows": summary.first_rows,
                        "message": summary.message,
                    }
                    for summary in normalized.changes.summary.values()
                ],
            }
            lists["change_log"] = ({"change": kind, "row": row} for kind, row in normalized.changes)
        elif normalized is not None:
            extra["validated"] = "original"
            extra["normalization"] = {"refused": normalized.refused, "note": normalized.refusal}
        else:
            extra["validated"] = "original" if report.digest else "not read"
        if split is not None and split.parts:
            extra["parts"] = [
                {"key": part.key, "rows": part.rows, "digest": part.digest} for part in split.parts
            ]
        return iter_report_json(
            report, self.dropped.key, extra, self._row_map(), lists, LISTED_PER_RULE
        )


def _normalization_summary(result: NormalizeResult) -> dict[str, Any]:
    if result.refused is not None:
        return {"refused": result.refused}
    return {
        "changes": result.changes.counts,
        "rows_in": result.rows_in,
        "rows_out": result.rows_out,
    }


def _fit_key(folder: str, name: str) -> str:
    """``name``, its stem shortened if needed so the key stays within S3's 1,024 bytes.

    A dropped key may be up to 1,024 bytes itself; under the copy's longer folder it would
    not fit, and S3 would refuse the copy.
    """
    room = S3_KEY_BYTES - len(folder.encode())
    if len(name.encode()) <= room:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix.encode()) >= room // 2:
        stem, dot, suffix = name, "", ""
    ending = f"{dot}{suffix}"
    kept = stem.encode()[: room - len(ending.encode())].decode("utf-8", errors="ignore")
    return kept + ending


def _part_name(number: int) -> str:
    return f"part-{number:03d}.csv"


def _part_opener(folder: Path) -> Callable[[int], BinaryIO]:
    return lambda number: (folder / _part_name(number)).open("wb")
