"""The Prometheus exporter: the lake and the Dagster instance as metric families.

Every sample carries `env` (PLATFORM_ENV), so one Prometheus can hold every
environment. Metrics describe state (ages, counts, rows) as of the latest reading
(`exporter_refresh_timestamp_seconds`); ages are computed here as well as exposed as
timestamps, so alert rules stay readable. Series
that name the run behind the latest value carry its `run_id`, the same id the run's
JSON log records and the version's manifest carry. `SERIES` lists every family."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import dagster as dg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from platform_assets import logs
from platform_assets.lake.versions import VersionStore
from platform_assets.observability.catalog_reads import CatalogReadScanner
from platform_assets.observability.dagster_runs import RunHistory, utc_now
from platform_assets.observability.lake_scan import (
    AssetFacts,
    LakeScanner,
    asset_label,
    newest_published,
    partition_end,
    published_versions,
)
from platform_assets.observability.landing_backlog import BacklogScanner, WatchedDataset

P = "platform_"
SERIES: dict[str, str] = {
    "asset_last_published_timestamp_seconds": "When the asset's latest publish (any partition) happened.",
    "asset_published_age_seconds": "Seconds since the asset's latest publish.",
    "asset_newest_partition_end_timestamp_seconds": "End of the newest published partition's day.",
    "asset_newest_partition_age_seconds": "Seconds since the end of the newest published partition's day.",
    "asset_published_partitions": "Partitions with a published version.",
    "asset_partitions_held_back": "Partitions whose newest complete version is not the published one.",
    "asset_read_errors": "Partitions whose pointer, manifest or audit could not be read, by kind.",
    "partition_published_rows": "Rows in each partition's published version.",
    "partition_published_bytes": "Bytes in each partition's published version.",
    "partition_quarantined_rows": "Rows the partition's newest version sent to quarantine (if any).",
    "partition_quarantine_share": "Share of screened rows the newest version sent to quarantine (if any).",
    "partition_failed_checks": "Failed checks of the newest version, by check severity (`level`), if any.",
    "partition_unpublished_versions": "Complete versions newer than the published one (if any).",
    "asset_failed_checks": "Failed checks of every partition's newest version, by severity (`level`).",
    "asset_quarantined_rows": "Rows every partition's newest version sent to quarantine.",
    "asset_quarantine_share": "Share of screened rows every partition's newest version quarantined.",
    "asset_step_cpu_seconds": "CPU seconds of the run that wrote the asset's newest version.",
    "asset_step_peak_memory_bytes": "Peak resident memory of that run's process at its write.",
    "storage_requests_total": "Storage calls (attempts) made by run processes, by operation.",
    "storage_retries_total": "Storage attempts that were retries, by operation.",
    "storage_errors_total": "Storage attempts that raised, by operation.",
    "catalog_read_bytes_total": "Bytes of data files catalog reads opened, by asset (since exporter start).",
    "catalog_reads_total": "Catalog reads (load, table, dataset, sql) by asset, since the exporter started.",
    "landing_files": "Files in the landing area, by dataset.",
    "landing_backlog_files": "Landed files whose bytes the raw zone does not hold yet.",
    "landing_backlog_oldest_age_seconds": "Age of the oldest landed-but-not-ingested file (0 if none).",
    "landing_newest_age_seconds": "Seconds since the newest file landed.",
    "runs_total": "Finished runs by zone and status.",
    "run_duration_seconds": "Finished runs' wall-clock duration by zone and status.",
    "runs_in_flight": "Runs queued, starting or started, by zone and status.",
    "run_last_finished_timestamp_seconds": "End of the latest finished run per zone, labelled with its id.",
    "run_last_duration_seconds": "Duration of the latest finished run per zone, labelled with its id.",
    "steps_total": "Finished steps by zone, asset and status.",
    "step_duration_seconds": "Steps' wall-clock duration by zone, asset and status.",
    "step_last_duration_seconds": "The latest run of each step: its duration, labelled with its run id.",
    "exporter_refresh_seconds": "Time the exporter spent reading the lake and the instance, last time.",
    "exporter_refresh_timestamp_seconds": "When the metrics served were read.",
    "exporter_files_read": "Lake files read by this scrape (only what changed).",
    "exporter_source_up": "Whether the landing area and the Dagster instance could be read (1) or not (0).",
}


class _Families:
    """Metric families that all start with the `env` label."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.families: dict[str, GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily] = {}

    def _family(self, kind: type, name: str, labels: Sequence[str]):  # noqa: ANN202 - one of three
        if name not in self.families:
            plain = name.removesuffix("_total") if kind is CounterMetricFamily else name
            self.families[name] = kind(P + plain, SERIES[name], labels=["env", *labels])
        return self.families[name]

    def gauge(self, name: str, labels: dict[str, str], value: float) -> None:
        self._family(GaugeMetricFamily, name, list(labels)).add_metric([self.env, *labels.values()], value)

    def counter(self, name: str, labels: dict[str, str], value: float) -> None:
        self._family(CounterMetricFamily, name, list(labels)).add_metric([self.env, *labels.values()], value)

    def histogram(self, name: str, labels: dict[str, str], buckets: list, total: float) -> None:
        family = self._family(HistogramMetricFamily, name, list(labels))
        family.add_metric([self.env, *labels.values()], buckets, total)


class PlatformCollector(Collector):
    """Collects on each scrape, from caches that only re-read what changed."""

    def __init__(
        self,
        store: VersionStore,
        env: str,
        datasets: Sequence[WatchedDataset] = (),
        instance: Callable[[], dg.DagsterInstance | None] | None = None,
        clock: Callable[[], float] = utc_now,
    ) -> None:
        self.env = env
        self.lake = LakeScanner(store)
        self.backlog = BacklogScanner(store.storage, datasets)
        self.catalog_reads = CatalogReadScanner(store.storage)
        self._instance = instance
        self._runs: RunHistory | None = None
        self.clock = clock
        self._lock = threading.Lock()
        self._refresher: threading.Thread | None = None
        self._refresh_seconds = 0.0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._latest: list = []

    def describe(self) -> Iterable:
        return []  # collected on demand; nothing to register up front

    def collect(self) -> Iterator:
        """The metric families: read now, or the background refresher's latest."""
        if self._refresher is None:
            yield from self.refresh()
            return
        self._ready.wait(timeout=self._refresh_seconds * 10)
        yield from self._latest

    def start_refreshing(self, every_seconds: float) -> None:
        """Read the lake and the instance in a background thread every `every_seconds`, so a
        scrape only serialises the latest reading: its cost no longer grows with the lake.
        Ages are then as of that reading (`exporter_refresh_timestamp_seconds`)."""
        self._refresh_seconds = every_seconds

        def loop() -> None:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._latest = list(self.refresh())
                except Exception as error:  # noqa: BLE001 - keep serving the previous reading
                    logs.emit("exporter_refresh_failed", level=logging.ERROR, error=str(error)[:300])
                self._ready.set()
                self._stop.wait(max(0.0, every_seconds - (time.monotonic() - started)))

        self._refresher = threading.Thread(target=loop, name="platform-metrics-refresh", daemon=True)
        self._refresher.start()

    def stop_refreshing(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=30)

    def refresh(self) -> list:
        """Read the lake, the landing area and the instance (only what changed) into families."""
        with self._lock:
            started = time.perf_counter()
            out = _Families(self.env)
            now = self.clock()
            assets = self.lake.scan()
            self._lake_metrics(out, assets, now)
            sources = (
                ("landing", self._backlog_metrics),
                ("dagster", self._run_metrics),
                ("catalog", self._catalog_metrics),
            )
            for source, collect in sources:
                try:  # one failing source must not take the lake's metrics down with it
                    collect(out, assets, now)
                    out.gauge("exporter_source_up", {"source": source}, 1)
                except Exception as error:  # noqa: BLE001 - reported as a metric and a log record
                    out.gauge("exporter_source_up", {"source": source}, 0)
                    logs.emit(
                        "exporter_source_failed", level=logging.WARNING, source=source, error=str(error)[:300]
                    )
            read = self.lake.reads + self.backlog.reads + self.catalog_reads.files_read
            out.gauge("exporter_files_read", {}, read)
            out.gauge("exporter_refresh_seconds", {}, time.perf_counter() - started)
            out.gauge("exporter_refresh_timestamp_seconds", {}, now)
            return list(out.families.values())

    def _lake_metrics(self, out: _Families, assets: list[AssetFacts], now: float) -> None:
        storage: dict[tuple[str, str], int] = {}
        for asset in assets:
            labels = {"zone": asset.zone, "asset": asset_label(asset.key)}
            for kind in ("pointer", "manifest", "audit", "listing"):
                out.gauge("asset_read_errors", {**labels, "kind": kind}, asset.errors.get(kind, 0))
            published = published_versions(self.lake, asset)
            times = [f.published_at for f in asset.partitions.values() if f.published_at is not None]
            if times:
                out.gauge("asset_last_published_timestamp_seconds", labels, max(times))
                out.gauge("asset_published_age_seconds", labels, now - max(times))
            newest = partition_end(newest_published(asset))
            if newest is not None:
                out.gauge("asset_newest_partition_end_timestamp_seconds", labels, newest)
                out.gauge("asset_newest_partition_age_seconds", labels, now - newest)
            out.gauge("asset_published_partitions", labels, len(published))
            held = sum(1 for f in asset.partitions.values() if f.newest and f.newest != f.published)
            out.gauge("asset_partitions_held_back", labels, held)
            for facts, manifest in published:
                where = {**labels, "partition": facts.partition or ""}
                if manifest.rows is not None:
                    out.gauge("partition_published_rows", where, manifest.rows)
                out.gauge("partition_published_bytes", where, manifest.bytes)
            self._quality_metrics(out, asset, labels)
            self._usage_metrics(out, asset, labels, storage)
        for (operation, what), count in sorted(storage.items()):
            out.counter(f"storage_{what}_total", {"operation": operation}, count)
        for what in ("requests", "retries", "errors"):  # present even before any call is counted
            out._family(CounterMetricFamily, f"storage_{what}_total", ["operation"])

    def _quality_metrics(self, out: _Families, asset: AssetFacts, labels: dict[str, str]) -> None:
        """Failed checks, quarantine and unpublished versions of each partition's newest version.

        Per-partition series are exported only where they are not zero (a year of zeros
        would be most of a scrape); per-asset totals are always there, for dashboards."""
        failed = {"ERROR": 0, "WARN": 0}
        quarantined = offered = 0
        for facts in asset.partitions.values():
            where = {**labels, "partition": facts.partition or ""}
            if facts.unpublished_newer:
                out.gauge("partition_unpublished_versions", where, facts.unpublished_newer)
            for level, count in facts.failed_checks.items():
                failed[level] = failed.get(level, 0) + count
                out.gauge("partition_failed_checks", {**where, "level": level}, count)
            latest = self.lake.manifest(asset.zone, asset.name, facts.partition, facts.newest or "")
            if latest is None or latest.offered is None:
                continue
            quarantined, offered = quarantined + latest.quarantined, offered + latest.offered
            if latest.quarantined:
                out.gauge("partition_quarantined_rows", where, latest.quarantined)
                out.gauge("partition_quarantine_share", where, latest.quarantined / max(latest.offered, 1))
        for level, count in failed.items():
            out.gauge("asset_failed_checks", {**labels, "level": level}, count)
        if offered:
            out.gauge("asset_quarantined_rows", labels, quarantined)
            out.gauge("asset_quarantine_share", labels, quarantined / offered)

    def _usage_metrics(
        self, out: _Families, asset: AssetFacts, labels: dict[str, str], storage: dict[tuple[str, str], int]
    ) -> None:
        """Storage calls summed over every manifest, and CPU and peak memory of the run that
        wrote the asset's newest version over all the partitions it wrote (a backfill's
        first partition carries the step's work)."""
        newest: tuple[str, str] | None = None
        usage: dict[str, tuple[float, int]] = {}
        for facts in asset.partitions.values():
            for version in facts.versions:
                manifest = self.lake.manifest(asset.zone, asset.name, facts.partition, version)
                if manifest is None:
                    continue
                for operation, counts in manifest.storage.items():
                    for what, count in counts.items():
                        storage[(operation, what)] = storage.get((operation, what), 0) + int(count)
                if newest is None or version > newest[0]:
                    newest = (version, manifest.run_id)
                cpu, peak = usage.get(manifest.run_id, (0.0, 0))
                usage[manifest.run_id] = (
                    cpu + (manifest.cpu_seconds or 0.0),
                    max(peak, manifest.peak_rss_bytes or 0),
                )
        if newest is not None and usage[newest[1]][1]:
            cpu, peak = usage[newest[1]]
            out.gauge("asset_step_cpu_seconds", {**labels, "run_id": newest[1]}, cpu)
            out.gauge("asset_step_peak_memory_bytes", {**labels, "run_id": newest[1]}, peak)

    def _backlog_metrics(self, out: _Families, assets: list[AssetFacts], now: float) -> None:
        by_key = {asset.key: asset for asset in assets}

        def ingested(key: tuple[str, str], partition: str | None) -> str | None:
            asset = by_key.get(key)
            facts = asset.partitions.get(partition) if asset else None
            if facts is None or facts.newest is None:
                return None
            manifest = self.lake.manifest(key[0], key[1], partition, facts.newest)
            return manifest.content_hash if manifest else None

        for found in self.backlog.scan(ingested):
            labels = {"dataset": found.dataset, "asset": asset_label(found.asset)}
            out.gauge("landing_files", labels, found.landed_files)
            out.gauge("landing_backlog_files", labels, found.backlog_files)
            oldest = now - found.oldest_backlog_mtime if found.oldest_backlog_mtime else 0.0
            out.gauge("landing_backlog_oldest_age_seconds", labels, oldest)
            if found.newest_landed_mtime:
                out.gauge("landing_newest_age_seconds", labels, now - found.newest_landed_mtime)

    def _catalog_metrics(self, out: _Families, assets: list[AssetFacts], now: float) -> None:
        self.catalog_reads.scan()
        for asset, count in sorted(self.catalog_reads.bytes.items()):
            out.counter("catalog_read_bytes_total", {"asset": asset}, count)
            out.counter("catalog_reads_total", {"asset": asset}, self.catalog_reads.reads[asset])
        for name in ("catalog_read_bytes_total", "catalog_reads_total"):  # present before any read
            out._family(CounterMetricFamily, name, ["asset"])

    def _run_metrics(self, out: _Families, assets: list[AssetFacts], now: float) -> None:
        if self._runs is None:
            instance = self._instance() if self._instance else None
            if instance is None:
                return
            self._runs = RunHistory(instance)
        runs = self._runs
        runs.refresh()
        for (zone, status), count in sorted(runs.runs.items()):
            out.counter("runs_total", {"zone": zone, "status": status}, count)
        for (zone, status), hist in sorted(runs.run_seconds.items()):
            out.histogram(
                "run_duration_seconds", {"zone": zone, "status": status}, hist.buckets(), hist.total
            )
        for (zone, status), count in sorted(runs.in_flight.items()):
            out.gauge("runs_in_flight", {"zone": zone, "status": status}, count)
        for zone in ("raw", "curated", "serving"):  # queued-run alerts need a zero, not an absence
            if (zone, "QUEUED") not in runs.in_flight:
                out.gauge("runs_in_flight", {"zone": zone, "status": "QUEUED"}, 0)
        for zone, last in sorted(runs.last_run.items()):
            labels = {"zone": zone, "run_id": last.run_id, "status": last.status}
            out.gauge("run_last_finished_timestamp_seconds", labels, last.finished_at)
            out.gauge("run_last_duration_seconds", labels, last.seconds)
        for (zone, asset, kind, status), count in sorted(runs.steps.items()):
            labels = {"zone": zone, "asset": f"{zone}/{asset}", "step": kind, "status": status}
            out.counter("steps_total", labels, count)
        for (zone, asset, kind, status), hist in sorted(runs.step_seconds.items()):
            labels = {"zone": zone, "asset": f"{zone}/{asset}", "step": kind, "status": status}
            out.histogram("step_duration_seconds", labels, hist.buckets(), hist.total)
        for (zone, asset, kind), last in sorted(runs.last_step.items()):
            labels = {"zone": zone, "asset": f"{zone}/{asset}", "step": kind, "run_id": last.run_id}
            out.gauge("step_last_duration_seconds", labels, last.seconds)
