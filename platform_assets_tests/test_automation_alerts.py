"""Run-failure alerts reach a real webhook as well-formed JSON; structured logs carry the facts."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.automation.alerts import KIND_RUN_FAILURE, RUN_FAILURE_SENSOR_NAME, send_alert
from platform_assets.automation.config import AutomationSettings
from platform_assets.definitions import build_definitions
from platform_assets.logs import LOGGER_NAME
from platform_assets_tests.conftest import local_lake
from platform_assets_tests.quality_corpus import as_text_frame, clean_flights, land_flights, to_bytes
from platform_assets_tests.webhook import Webhook

pytestmark = pytest.mark.integration

MISSING_DAY = "2013-06-01"


@pytest.fixture
def records() -> Iterator[list[dict]]:
    """Every structured record the platform logs during the test."""
    collected: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            collected.append(json.loads(record.getMessage()))

    handler = Collect()
    logging.getLogger(LOGGER_NAME).addHandler(handler)
    try:
        yield collected
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(handler)


@pytest.fixture(scope="module")
def failed_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dg.Definitions, dg.DagsterInstance, dg.ExecuteInProcessResult]]:
    """A real failed run: raw flights for a day that never landed."""
    lake = local_lake(tmp_path_factory.mktemp("alerts"))
    defs = build_definitions(lake.resource)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*defs.assets, *(defs.asset_checks or [])],
            selection=[dg.AssetKey(["raw", "flights"])],
            partition_key=MISSING_DAY,
            resources=defs.resources,
            instance=instance,
            tags={"zone": "raw"},
            raise_on_error=False,
        )
        assert not result.success
        yield defs, instance, result


def _evaluate_failure_sensor(
    defs: dg.Definitions, instance: dg.DagsterInstance, run: dg.DagsterRun, result: dg.ExecuteInProcessResult
) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR_NAME,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    defs.resolve_sensor_def(RUN_FAILURE_SENSOR_NAME)(context)


def test_failed_run_posts_one_well_formed_alert(
    failed_run: tuple,
    webhook: Webhook,
    records: list[dict],
) -> None:
    defs, instance, result = failed_run
    webhook.fail_next = 1  # the first delivery attempt is refused: the alert is retried
    run = instance.get_run_by_id(result.run_id)
    _evaluate_failure_sensor(defs, instance, run, result)

    (alert,) = webhook.received
    assert alert["kind"] == KIND_RUN_FAILURE and alert["severity"] == "error"
    assert alert["run_id"] == result.run_id
    assert alert["assets"] == ["raw/flights"]
    assert alert["partition"] == MISSING_DAY and alert["zone"] == "raw"
    assert "has not landed" in alert["error"]  # the user's error, not Dagster's wrapper
    assert alert["text"].startswith(f"Run {result.run_id[:8]} failed")
    assert {"ts", "level", "event", "at", "ui_path"} <= set(alert)
    assert [r["run_id"] for r in records if r["event"] == "alert"] == [result.run_id]


def test_failure_that_will_be_retried_is_only_logged(
    failed_run: tuple,
    webhook: Webhook,
    records: list[dict],
) -> None:
    defs, instance, result = failed_run
    instance.add_run_tags(result.run_id, {"dagster/will_retry": "true"})
    try:
        _evaluate_failure_sensor(defs, instance, instance.get_run_by_id(result.run_id), result)
    finally:
        instance.add_run_tags(result.run_id, {"dagster/will_retry": "false"})
    assert webhook.received == []
    assert [r["event"] for r in records] == ["run_failed_will_retry"]


def test_without_a_webhook_alerts_are_only_logged(
    monkeypatch: pytest.MonkeyPatch, records: list[dict]
) -> None:
    monkeypatch.delenv("PLATFORM_ALERT_WEBHOOK", raising=False)
    assert send_alert({"kind": "test", "text": "hello"}, AutomationSettings()) is False
    assert records[-1]["event"] == "alert" and records[-1]["text"] == "hello"


def test_written_versions_are_logged_as_structured_records(tmp_path: Path, records: list[dict]) -> None:
    lake = local_lake(tmp_path)
    lake.storage.write_bytes("landing/airlines.csv", b"carrier,name\nAA,American Airlines Inc.\n")
    defs = build_definitions(lake.resource)
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        selection=[dg.AssetKey(["raw", "airlines"]), dg.AssetKey(["curated", "airlines"])],
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    written = {r["asset"]: r for r in records if r["event"] == "version_written"}
    assert set(written) == {"raw/airlines", "curated/airlines"}
    curated = written["curated/airlines"]
    assert curated["run_id"] == result.run_id and curated["rows"] == 1 and curated["bytes"] > 0
    assert curated["version"].endswith(result.run_id[:8])
    assert written["raw/airlines"]["bytes"] == len(b"carrier,name\nAA,American Airlines Inc.\n")


def test_a_failed_audit_names_its_rule_and_first_cases_in_the_run_failure_and_the_alert(
    tmp_path: Path, webhook: Webhook
) -> None:
    """The person paged sees which rule failed and where, without opening `_audit.json`."""
    lake = local_lake(tmp_path)
    day = "2013-01-09"
    frame = as_text_frame(clean_flights(day))
    frame.loc[4, "dep_delay"] = "1e999"  # parses as a float, is not a number
    frame.loc[4, "tailnum"] = "MARK1"
    bad = to_bytes(frame)
    (line,) = [i + 1 for i, text in enumerate(bad.decode().split("\n")) if "MARK1" in text]
    land_flights(lake, day, bad)
    defs = build_definitions(lake.resource)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*defs.assets, *(defs.asset_checks or [])],
            selection=[dg.AssetKey(["raw", "flights"])],
            partition_key=day,
            resources=defs.resources,
            instance=instance,
            tags={"zone": "raw"},
            raise_on_error=False,
        )
        assert not result.success
        (step_failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        message = step_failure.step_failure_data.error.message  # what the run's failure shows
        for text in ("raw/flights", "contract", "dep_delay: finite_number", f"row={line}", "value=1e999"):
            assert text in message, (text, message)

        _evaluate_failure_sensor(defs, instance, instance.get_run_by_id(result.run_id), result)
    (alert,) = webhook.received
    assert "dep_delay: finite_number" in alert["error"] and f"line {line}" in alert["error"]
    assert "dep_delay: finite_number" in alert["text"]
    (check,) = alert["failed_checks"]
    assert check["asset"] == "raw/flights" and check["check"] == "contract" and check["blocking"]
    assert check["failure_cases"][0] == {
        "rule": "dep_delay: finite_number", "column": "dep_delay", "row": str(line), "value": "1e999"
    }  # fmt: skip
