"""deploy/ checked without a Docker daemon or a cluster: what can be checked, is.

Compose files are resolved by Debian's `docker-compose config` (the real parser and
interpolation); Helm values are compared with deploy/dagster.yaml setting by setting;
environment variable names are cross-checked between compose, Helm, the Dockerfile,
the instance file and the code that reads them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.lake.provenance import code_provenance
from platform_assets.settings import REQUIRE_EXPLICIT_ENV
from platform_assets_tests.conftest import free_port

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DAGSTER_SERVICES = ("code", "webserver", "daemon")
# Top-level fields of the chart's values model (helm/dagster/schema/.../charts/dagster/values.py).
CHART_TOP_LEVEL = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
    "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
    "telemetry", "serviceAccount", "global", "retention", "concurrency", "additionalInstanceConfig",
}  # fmt: skip
DEV_ONLY = ("pytest", "moto", "ruff", "ipykernel", "nbclient", "matplotlib")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _runtime_closure(distribution: str) -> set[str]:
    """Every distribution the installed package requires at run time, transitively
    (extras and environment markers as this interpreter evaluates them)."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    def key(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen: set[str] = set()
    todo = [distribution]
    while todo:
        name = todo.pop()
        try:
            wanted = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in wanted:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            if key(requirement.name) not in seen:
                seen.add(key(requirement.name))
                todo.append(requirement.name)
    return seen


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def test_helm_values_carry_the_instance_settings_of_deploy_dagster_yaml() -> None:
    instance, values = _yaml(DEPLOY / "dagster.yaml"), _yaml(DEPLOY / "helm" / "values.yaml")
    assert set(values) <= CHART_TOP_LEVEL, set(values) - CHART_TOP_LEVEL
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = instance["run_coordinator"]["config"]
    assert queued["maxConcurrentRuns"] == coordinator["max_concurrent_runs"]
    assert queued["tagConcurrencyLimits"] == coordinator["tag_concurrency_limits"]
    for section, helm_key in (("run_retries", "runRetries"), ("run_monitoring", "runMonitoring")):
        assert {_camel(k): v for k, v in instance[section].items()} == daemon[helm_key], section
    assert {_camel(k): v for k, v in instance["sensors"].items()} == daemon["sensors"]
    extra = values["additionalInstanceConfig"]
    assert extra == {k: instance[k] for k in extra}
    # Every instance section is carried by a chart field or additionalInstanceConfig.
    carried = {"storage", "run_coordinator", "run_retries", "run_monitoring", "sensors", "telemetry", *extra}
    assert set(instance) <= carried, set(instance) - carried


def test_helm_gives_each_role_its_service_account_and_resource_requests() -> None:
    values = _yaml(DEPLOY / "helm" / "values.yaml")
    user = values["dagster-user-deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    accounts = {
        "webserver+daemon": values["serviceAccount"]["name"],
        "code": user["serviceAccount"]["name"],
        "runs": launcher["runK8sConfig"]["podSpecConfig"]["serviceAccountName"],
    }
    assert len(set(accounts.values())) == 3, accounts
    for role, spec in {
        "webserver": values["dagsterWebserver"], "daemon": values["dagsterDaemon"], "runs": launcher,
        **{d["name"]: d for d in user["deployments"]},
    }.items():  # fmt: skip
        assert {"cpu", "memory"} <= set(spec["resources"]["requests"]), role
        assert "memory" in spec["resources"]["limits"], role
    # Every role is told its environment explicitly (the image refuses an unset one).
    assert values["dagsterWebserver"]["env"]["PLATFORM_ENV"] == "prod"
    assert values["dagsterDaemon"]["env"]["PLATFORM_ENV"] == "prod"
    assert all(d["env"]["PLATFORM_ENV"] == "prod" for d in user["deployments"])
    assert "PLATFORM_ENV=prod" in launcher["envVars"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is missing; `make test-system-packages` installs Debian's package")
    env = {
        "PATH": os.environ["PATH"],
        "PLATFORM_ENV": "staging",
        "PLATFORM_LAKE_URL": "s3://staging-lake/platform",
        "DAGSTER_PG_PASSWORD": "from-the-environment",
        "GRAFANA_ADMIN_PASSWORD": "from-the-environment",
    }
    done = subprocess.run(  # noqa: S603 - fixed argv
        [binary, "-f", str(DEPLOY / "docker-compose.yml"), "config"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # Without PLATFORM_ENV the stack does not resolve at all: it is never silently dev.
    unset = subprocess.run(  # noqa: S603
        [binary, "-f", str(DEPLOY / "docker-compose.yml"), "config"],
        env={k: v for k, v in env.items() if k != "PLATFORM_ENV"},
        capture_output=True,
        text=True,
    )
    assert unset.returncode != 0 and "PLATFORM_ENV" in unset.stderr
    return yaml.safe_load(done.stdout)


def test_compose_resolves_with_health_checks_restarts_shared_logs_and_its_code_server(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    home = "/opt/dagster/dagster_home"
    assert re.search(rf"ENV DAGSTER_HOME={home}\b", (DEPLOY / "Dockerfile").read_text())
    for name in ("postgres", *DAGSTER_SERVICES):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    for name in DAGSTER_SERVICES:
        volumes = services[name]["volumes"]
        targets = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in volumes}
        assert f"{home}/storage" in targets, name  # compute logs shared with the webserver
        assert services[name]["environment"]["PLATFORM_ENV"] == "staging"
    assert services["code"]["command"][:3] == ["dagster", "code-server", "start"]
    workspace = _yaml(DEPLOY / "workspace.yaml")["load_from"][0]["grpc_server"]
    assert workspace["host"] == "code" and str(workspace["port"]) in services["code"]["command"]
    for name in ("webserver", "daemon"):
        assert "/opt/platform/workspace.yaml" in services[name]["command"]
        assert "code" in services[name]["depends_on"]


def test_env_names_agree_across_compose_helm_dockerfile_instance_and_code(compose: dict[str, Any]) -> None:
    code = "\n".join(p.read_text() for p in (REPO / "platform_assets").rglob("*.py"))
    read_by_code = set(re.findall(r"\b(PLATFORM_[A-Z_]+)\b", code))
    instance_env = set(re.findall(r"env: (\w+)", (DEPLOY / "dagster.yaml").read_text()))
    compose_env = set(compose["services"]["code"]["environment"])
    helm_text = (DEPLOY / "helm" / "values.yaml").read_text()
    docker = (DEPLOY / "Dockerfile").read_text()
    assert instance_env <= compose_env, instance_env - compose_env
    for source, text in (("helm", helm_text), ("Dockerfile", docker), ("compose", " ".join(compose_env))):
        named = set(re.findall(r"\b(PLATFORM_[A-Z_]+)\b", text))
        assert named <= read_by_code, f"{source} sets {named - read_by_code}, which no code reads"
    assert f"{REQUIRE_EXPLICIT_ENV}=1" in docker


def test_image_installs_runtime_dependencies_only_as_a_non_root_user(monkeypatch: pytest.MonkeyPatch) -> None:
    docker = (DEPLOY / "Dockerfile").read_text()
    assert "requirements-runtime.lock" in docker and "requirements.lock " not in docker
    users = re.findall(r"^USER (\S+)", docker, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0"))
    runtime, full = _lock(REPO / "requirements-runtime.lock"), _lock(REPO / "requirements.lock")
    assert not [name for name in runtime if name.startswith(DEV_ONLY)]
    assert {name: full.get(name) for name in runtime} == runtime  # same pins as the dev lock
    # Complete: everything the installed platform needs at run time is pinned for the image.
    needed = _runtime_closure("platform_assets")
    assert sorted(needed - set(runtime)) == []
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".lake", ".env", "platform_assets_tests"} <= set(ignored)
    # Manifests copy the image id and commit the image was built with.
    monkeypatch.setenv("PLATFORM_IMAGE_ID", "platform-assets:abc123")
    monkeypatch.setenv("PLATFORM_GIT_COMMIT", "abc123")
    facts = code_provenance.__wrapped__()
    assert facts["image_id"] == "platform-assets:abc123" and facts["git_commit"] == "abc123"


def _exporter_manifest() -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all((DEPLOY / "helm" / "exporter.yaml").read_text())
    return {doc["kind"]: doc for doc in documents}


def test_kubernetes_exporter_runs_what_compose_runs_with_the_code_servers_environment(
    compose: dict[str, Any],
) -> None:
    manifest, values = _exporter_manifest(), _yaml(DEPLOY / "helm" / "values.yaml")
    pod = manifest["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = compose["services"]["exporter"]["command"]
    assert container["command"] == (command.split() if isinstance(command, str) else command)
    port = int(container["command"][container["command"].index("--port") + 1])
    # Prometheus's scrape target, the container, the probes and the Service agree on the port.
    scraped = _yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"][0]["static_configs"][0]
    assert {int(t.rsplit(":", 1)[1]) for t in scraped["targets"]} == {port}
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert manifest["Service"]["spec"]["ports"][0]["port"] == port
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    # The code server's environment: same PLATFORM_ENV, config maps and secrets.
    (code,) = values["dagster-user-deployments"]["deployments"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PLATFORM_ENV"] == code["env"]["PLATFORM_ENV"]
    sources = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert sources == {m["name"] for m in code["envConfigMaps"] + code["envSecrets"]}
    # The instance's password comes from the environment the instance file names.
    assert "DAGSTER_PG_PASSWORD" in env and "DAGSTER_PG_PASSWORD" in (DEPLOY / "dagster.yaml").read_text()
    # Its own service account, declared here, not one of the chart's roles; non-root; requests.
    account = manifest["ServiceAccount"]["metadata"]["name"]
    assert pod["serviceAccountName"] == account
    assert account not in (DEPLOY / "helm" / "values.yaml").read_text()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}


def test_the_exporter_command_of_the_manifest_serves_its_probe_path(tmp_path: Path) -> None:
    """The probes point at a path the real exporter answers."""

    (container,) = _exporter_manifest()["Deployment"]["spec"]["template"]["spec"]["containers"]
    port = free_port()
    argv = list(container["command"])
    argv[argv.index("--host") + 1] = "127.0.0.1"  # a test binds loopback only
    argv[argv.index("--port") + 1] = str(port)
    (tmp_path / "home").mkdir()
    env = {**os.environ, "PLATFORM_ENV": "dev", "PLATFORM_LAKE_URL": str(tmp_path / "lake")}
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    script = Path(sys.executable).with_name(argv[0])  # the venv's console script
    process = subprocess.Popen([str(script), *argv[1:]], env=env, stderr=subprocess.PIPE)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "the exporter never answered its probe path"
                time.sleep(0.5)
        assert response.status == 200 and "platform_exporter_refresh_timestamp_seconds" in body
    finally:
        process.terminate()
        process.wait(timeout=30)
