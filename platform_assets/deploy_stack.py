"""The production topology on one machine: `make stack`, and the stack integration test.

The same processes as deploy/docker-compose.yml, started as plain processes:
PostgreSQL (Debian's package) for the instance, moto's S3 server over TLS as the
staging lake, `dagster code-server` serving the code over gRPC, and the webserver
and daemon loading it through a gRPC workspace with deploy/dagster.yaml as the
instance, all with PLATFORM_ENV=staging.

Each Dagster service is supervised like compose's `restart: unless-stopped`: one
that exits (PostgreSQL not up yet, or a `kill -9`) is started again after a short
backoff. The lake endpoint speaks https with a certificate made for this stack, so
the staging guard against plain-http endpoints stays on here too."""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUCKET = "staging-lake"
LAKE_URL = f"s3://{BUCKET}/platform"
RESTART_BACKOFF_S = 1.0
# What dagster-postgres logs while it waits for the database (then it gives up and exits).
DB_RETRY_MESSAGE = "Retrying failed database connection"
# Stand-in credentials for moto; a real deployment takes them from its role.
_MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "stack", "AWS_SECRET_ACCESS_KEY": "stack"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: the https the guard requires."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform stack lake")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "lake-cert.pem", folder / "lake-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class Service:
    """One supervised process; restarted when it exits unless the stack is stopping."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    supervised: bool = True
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n--- start #{self.starts + 1} at {time.strftime('%H:%M:%S')}\n".encode())
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() ends its children too
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # children that outlived their leader
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise SystemExit("PostgreSQL server binaries are missing: apt-get install postgresql")
    return Path(found[-1]).parent


def _as_postgres(argv: list[str]) -> list[str]:
    """Debian's postgres refuses to run as root: drop to the `postgres` user when root."""
    return argv if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *argv]


@dataclass
class Stack:
    """The whole staging topology under one state folder, on free loopback ports."""

    state: Path
    sensor_interval_s: int | None = None
    postgres_delay_s: float = 0.0
    webserver_port: int = field(default_factory=free_port)
    services: dict[str, Service] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _pg_data: Path | None = None

    @property
    def home(self) -> Path:
        return self.state / "dagster_home"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        pg_port, s3_port, code_port = free_port(), free_port(), free_port()
        cert, key = make_certificate(self.state)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_", "AWS_"))},
            **_MOTO_CREDENTIALS,
            "PLATFORM_ENV": "staging",
            "PLATFORM_REQUIRE_EXPLICIT_ENV": "1",  # as the image sets it
            "PLATFORM_LAKE_URL": LAKE_URL,
            "AWS_ENDPOINT_URL": f"https://127.0.0.1:{s3_port}",
            "AWS_CA_BUNDLE": str(cert),
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            # One moto account, no per-zone profiles here: every service acts with the ambient
            # credentials (least privilege per zone is exercised by test_governance_iam).
            "PLATFORM_IDENTITY_PROFILE": "",
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(pg_port),
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        }
        if self.sensor_interval_s:
            self.env["PLATFORM_SENSOR_INTERVAL_SECONDS"] = str(self.sensor_interval_s)
        shutil.copy(REPO / "deploy" / "dagster.yaml", self.home / "dagster.yaml")
        workspace = self.state / "workspace.yaml"
        workspace.write_text(
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {code_port}\n      location_name: platform_assets\n"
        )
        self._start_lake(s3_port, cert, key)
        self._add("code", [_bin("dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port),
                           "-m", "platform_assets.definitions"])  # fmt: skip
        self._add("webserver", [_bin("dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.webserver_port),
                                "-w", str(workspace)])  # fmt: skip
        self._add("daemon", [_bin("dagster-daemon"), "run", "-w", str(workspace)])
        for name in ("code", "webserver", "daemon"):
            self.services[name].start()
        self._spawn(self._supervise)
        if self.postgres_delay_s:
            self._spawn(lambda: self._start_postgres_later(pg_port))
        else:
            self._start_postgres(pg_port)

    def _spawn(self, target: object) -> None:
        thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _add(self, name: str, argv: list[str], supervised: bool = True) -> Service:
        service = Service(name, argv, self.env, self.state / f"{name}.log", self.home, supervised)
        self.services[name] = service
        return service

    def _start_lake(self, port: int, cert: Path, key: Path) -> None:
        """moto's S3 server over TLS, its bucket, and the lake's staging identity record."""
        import boto3

        lake = self._add("lake", [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port),
                                  "-c", str(cert), "-k", str(key)], supervised=False)  # fmt: skip
        lake.start()
        client = boto3.client(
            "s3", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name="us-east-1", verify=str(cert),
            aws_access_key_id="stack", aws_secret_access_key="stack",
        )  # fmt: skip
        _wait(lambda: _answers(client.list_buckets), 30, "moto's S3 server", lake.log)
        client.create_bucket(Bucket=BUCKET)
        # Staging refuses a bucket without default encryption, as a real one would have.
        client.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        # As an operator does once per lake: the record that makes it the staging lake.
        subprocess.run([_bin("platform"), "init-lake"], env=self.env, check=True)  # noqa: S603

    def _start_postgres_later(self, port: int) -> None:
        """After the Dagster services, which must wait for it; a failure lands in its log."""
        if self._stopping.wait(self.postgres_delay_s):
            return
        # A fault to rehearse: PostgreSQL arrives only once the services have found it missing.
        deadline = time.monotonic() + 180
        while not all(self._tried_database(name) for name in ("webserver", "daemon")):
            if self._stopping.wait(0.5) or time.monotonic() > deadline:
                break
        try:
            self._start_postgres(port)
        except Exception as error:  # noqa: BLE001 - a thread's error would vanish otherwise
            with (self.state / "postgres.log").open("a") as log:
                log.write(f"PostgreSQL did not start: {error!r}\n")

    def _tried_database(self, name: str) -> bool:
        service = self.services[name]
        return service.starts >= 2 or DB_RETRY_MESSAGE in service.log.read_text(errors="replace")

    def _start_postgres(self, port: int) -> None:
        bin_dir = _pg_bin()
        # Outside the state folder: as root, initdb runs as `postgres`, which may not
        # traverse a private parent such as pytest's temporary root.
        data = Path(tempfile.mkdtemp(prefix="platform-stack-pg-"))
        self._pg_data = data
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(  # noqa: S603 - fixed argv
            _as_postgres([str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "dagster", "--auth=trust"]),
            check=True,
            capture_output=True,
        )
        self._add("postgres", _as_postgres([
            str(bin_dir / "postgres"), "-D", str(data / "db"), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={data}",
        ]), supervised=False).start()  # fmt: skip
        ready = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)]
        _wait(lambda: subprocess.run(ready, capture_output=True).returncode == 0, 60, "PostgreSQL")  # noqa: S603
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"]
        subprocess.run(createdb, check=True, capture_output=True)  # noqa: S603

    def _supervise(self) -> None:
        """compose's `restart: unless-stopped`: a service that exits is started again."""
        while not self._stopping.wait(0.5):
            for service in list(self.services.values()):
                if service.supervised and service.process is not None and service.process.poll() is not None:
                    if self._stopping.wait(RESTART_BACKOFF_S):
                        return
                    service.start()

    def wait_until_ready(self, timeout_s: float = 240) -> None:
        """Until the webserver answers GraphQL with the code location loaded over gRPC."""
        _wait(lambda: location_loaded(self.url), timeout_s, "the webserver with its code location",
              *(s.log for s in self.services.values()))  # fmt: skip

    def stop(self) -> None:
        self._stopping.set()
        for name in ("daemon", "webserver", "code", "lake", "postgres"):
            if name in self.services:
                self.services[name].stop()
        if self._pg_data is not None:
            shutil.rmtree(self._pg_data, ignore_errors=True)


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """One query against the webserver's GraphQL endpoint."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback URL we built
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def location_loaded(url: str) -> bool:
    try:
        data = graphql(url, "{ workspaceOrError { ... on Workspace { locationEntries { "
                            "locationOrLoadError { __typename } } } } }")  # fmt: skip
    except (OSError, RuntimeError, ValueError):
        return False
    entries = data["workspaceOrError"]["locationEntries"]
    return bool(entries) and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"


def _answers(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
        return True
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


def _wait(ready: object, timeout_s: float, what: str, *logs: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s\n{tails}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=REPO / ".stack", help="state folder (default .stack)")
    parser.add_argument("--sensor-interval", type=int, help="seconds between sensor ticks")
    args = parser.parse_args(argv)
    if args.state.exists():
        shutil.rmtree(args.state)  # a fresh stack each time: its lake and database live here
    stack = Stack(args.state.resolve(), sensor_interval_s=args.sensor_interval)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start()
        stack.wait_until_ready()
        exports = " ".join(f"{k}={stack.env[k]}" for k in (
            "PLATFORM_ENV", "PLATFORM_LAKE_URL", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))  # fmt: skip
        print(f"staging stack up: UI {stack.url}  (logs in {args.state})", flush=True)
        print(f"land a day into its lake:  env {exports} .venv/bin/platform land --start 2013-01-01")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
