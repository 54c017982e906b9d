"""Fixtures for config, secrets and doctor tests: the CLI, config files, live backends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import typer
from config_support import BASIC_HASH, BASIC_PASSWORD, BASIC_USER, PKI, make_pki, tls_client
from typer.testing import CliRunner, Result

from livestack import LiveServer, start_alertmanager, start_prometheus, start_victoria_metrics
from obsbench.cli import config_cmd, doctor_cmd


def _app() -> typer.Typer:
    """The same wiring as obsbench.cli.main for the two command groups under test."""
    app = typer.Typer()
    app.add_typer(config_cmd.app, name="config")
    app.command("doctor")(doctor_cmd.doctor)
    return app


@pytest.fixture(scope="session")
def cli_app() -> typer.Typer:
    return _app()


@pytest.fixture
def run_cli(cli_app: typer.Typer) -> Callable[..., Result]:
    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli_app, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def config_file() -> Path:
    return Path(os.environ["OBSBENCH_CONFIG"])


@pytest.fixture
def write_config(config_file: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(text, encoding="utf-8")
        return config_file

    return write


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    """A bundle written by hand: a manifest and two JSONL log lines."""
    bundle = tmp_path / "tiny-bundle"
    (bundle / "logs").mkdir(parents=True)
    (bundle / "bundle.toml").write_text(
        'name = "tiny"\n[window]\nstart = "2024-05-01T10:00:00Z"\nend = "2024-05-01T11:00:00Z"\n'
    )
    (bundle / "logs" / "app.jsonl").write_text(
        '{"ts": "2024-05-01T10:00:00Z", "service": "checkout", "level": "error", '
        '"message": "connection pool exhausted"}\n'
        '{"ts": "2024-05-01T10:00:01Z", "service": "checkout", "level": "info", '
        '"message": "request ok"}\n'
    )
    return bundle


# --------------------------------------------------------------------------- live backends


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("prometheus")
    server = start_prometheus(workdir / "data", workdir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_alertmanager(tmp_path_factory.mktemp("alertmanager"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_victoria_metrics(tmp_path_factory.mktemp("victoria-metrics"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def secure_prometheus(tmp_path_factory: pytest.TempPathFactory, pki: PKI) -> Iterator[LiveServer]:
    """Prometheus behind TLS that requires a client certificate and basic auth."""
    workdir = tmp_path_factory.mktemp("prometheus-secure")
    web = workdir / "web.yml"
    web.write_text(
        "tls_server_config:\n"
        f"  cert_file: {pki.server_cert}\n"
        f"  key_file: {pki.server_key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {pki.ca}\n"
        "basic_auth_users:\n"
        f"  {BASIC_USER}: '{BASIC_HASH}'\n"
    )
    client = tls_client(pki)
    client.auth = httpx.BasicAuth(BASIC_USER, BASIC_PASSWORD)
    try:
        server = start_prometheus(workdir / "data", workdir, web_config=web, ready_client=client)
    finally:
        client.close()
    yield server
    server.stop()
