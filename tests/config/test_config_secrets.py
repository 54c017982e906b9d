"""Secret references resolve (env, file, keyring and its headless fallback) and never leak."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from config_support import SECRET, unauthorized_server
from keyring.backend import KeyringBackend
from typer.testing import Result

from obsbench import secrets
from obsbench.config import load_config, resolve_backend, resolve_profile
from obsbench_servers.common.errors import ConfigError


class MemoryKeyring(KeyringBackend):
    """A usable 'system' keyring that lives in memory (what a desktop session provides)."""

    priority = 10

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.data.pop((service, username), None)


@pytest.fixture
def desktop_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", SECRET)
    assert secrets.resolve_ref("env:PROM_TOKEN").get_secret_value() == SECRET
    status = secrets.check_ref("env:PROM_TOKEN")
    assert status.resolves and status.store == "env"
    monkeypatch.delenv("PROM_TOKEN")
    status = secrets.check_ref("env:PROM_TOKEN")
    assert not status.resolves and "not set" in status.detail
    with pytest.raises(ConfigError) as info:
        secrets.resolve_ref("env:PROM_TOKEN")
    assert "export PROM_TOKEN" in str(info.value.hint)


def test_file_reference_strips_the_newline_and_warns_on_loose_mode(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(SECRET + "\n")
    f.chmod(0o600)
    assert secrets.resolve_ref(f"file:{f}").get_secret_value() == SECRET
    assert secrets.check_ref(f"file:{f}").detail == str(f)
    f.chmod(0o644)
    assert "chmod 600" in secrets.check_ref(f"file:{f}").detail
    missing = secrets.check_ref(f"file:{tmp_path / 'nope'}")
    assert not missing.resolves and "does not exist" in missing.detail


def test_headless_keyring_falls_back_to_a_0600_file_store() -> None:
    # conftest selects keyring.backends.null.Keyring: what a headless machine has.
    assert secrets.system_keyring() is None
    label = secrets.store_secret("prod-prometheus", SECRET)
    path = secrets.file_store_path()
    assert label == f"file store {path} (0600)"
    assert path.parent == Path(os.environ["OBSBENCH_STATE_DIR"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SECRET not in path.read_text()  # stored encoded, never as typed
    for ref in ("keyring:obsbench/prod-prometheus", "keyring:prod-prometheus"):
        assert secrets.resolve_ref(ref).get_secret_value() == SECRET
        status = secrets.check_ref(ref)
        assert status.resolves and status.store.startswith("file store")
    other = secrets.check_ref("keyring:other-service/prod-prometheus")
    assert not other.resolves and "set-secret prod-prometheus" in str(other.hint)


def test_a_usable_system_keyring_is_preferred(desktop_keyring: MemoryKeyring) -> None:
    label = secrets.store_secret("pd", SECRET)
    assert label.startswith("system keyring (")
    assert desktop_keyring.data == {("obsbench", "pd"): SECRET}
    assert not secrets.file_store_path().exists()
    status = secrets.check_ref("keyring:obsbench/pd")
    assert status.resolves and status.store.startswith("system keyring")


def test_forcing_the_keyring_store_without_one_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OBSBENCH_SECRETS_STORE", "keyring")
    with pytest.raises(ConfigError) as info:
        secrets.store_secret("x", SECRET)
    assert "no system keyring" in info.value.message


def test_set_secret_stdin_on_headless_machine(run_cli: Callable[..., Result]) -> None:
    result = run_cli("config", "set-secret", "prod-prom", "--stdin", input=SECRET + "\n")
    assert result.exit_code == 0, result.stderr
    path = secrets.file_store_path()
    assert f"file store {path} (0600)" in result.stderr
    assert 'secret = "keyring:obsbench/prod-prom"' in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SECRET not in result.stdout + result.stderr
    # The trailing newline of `echo` is not part of the secret.
    assert secrets.resolve_ref("keyring:obsbench/prod-prom").get_secret_value() == SECRET


def test_set_secret_refuses_argv_prompts_and_empty_values(run_cli: Callable[..., Result]) -> None:
    # No --stdin and no terminal: nothing to prompt on.
    result = run_cli("config", "set-secret", "x")
    assert result.exit_code == 2
    assert "--stdin" in result.stderr
    result = run_cli("config", "set-secret", "x", "--stdin", input="\n")
    assert result.exit_code == 2
    assert "empty" in result.stderr
    assert not secrets.file_store_path().exists()
    result = run_cli("config", "set-secret", "bad/name", "--stdin", input="v\n")
    assert result.exit_code == 2 and "not a usable secret name" in result.stderr


LEAKY = """\
default_profile = "prod"
[profiles.prod.metrics]
type = "prometheus"
url = "{url}"
auth = {{ kind = "bearer", secret = "env:PROM_TOKEN" }}

[profiles.prod.logs]
type = "loki"
url = "{url}"
auth = {{ kind = "basic", username = "loki", secret = "file:{token_file}" }}

[[profiles.prod.alerts]]
type = "alertmanager"
url = "{url}"
auth = {{ kind = "header", header = "X-Api-Key", secret = "keyring:obsbench/am" }}

[agent]
api_key = "env:PROM_TOKEN"
"""


def _leaky_config(
    write_config: Callable[[str], Path], tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    token_file = tmp_path / "loki-token"
    token_file.write_text(SECRET)
    token_file.chmod(0o600)
    monkeypatch.setenv("PROM_TOKEN", SECRET)
    secrets.store_secret("am", SECRET)
    return write_config(LEAKY.format(url=url, token_file=token_file))


def test_secrets_never_leak_into_show_validate_doctor_logs_or_reprs(
    write_config: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Result],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with unauthorized_server() as (url, seen):
        path = _leaky_config(write_config, tmp_path, url, monkeypatch)
        outputs: list[str] = [path.read_text()]

        show = run_cli("config", "show")
        assert show.exit_code == 0, show.stderr
        assert show.stdout.count("value hidden") == 4  # three backends and the agent key
        assert 'secret = "env:PROM_TOKEN"' in show.stdout
        outputs += [show.stdout, show.stderr]

        show_json = run_cli("config", "show", "--json")
        data = json.loads(show_json.stdout)
        secret_view = data["profiles"]["prod"]["metrics"]["auth"]["secret"]
        assert secret_view == {
            "ref": "env:PROM_TOKEN",
            "resolves": True,
            "store": "env",
            "value": "********",
            "detail": "environment variable PROM_TOKEN",
        }
        assert data["profiles"]["prod"]["alerts"][0]["auth"]["secret"]["store"].startswith(
            "file store"
        )
        outputs += [show_json.stdout, show_json.stderr]

        validate = run_cli("config", "validate")
        assert validate.exit_code == 0, validate.stderr
        outputs += [validate.stdout, validate.stderr]

        doctor = run_cli("doctor", "--json", "--timeout", "5")
        assert doctor.exit_code == 1  # the server answers 401 to everyone
        checks = json.loads(doctor.stdout)["checks"]
        assert [c["reason"] for c in checks] == ["unauthorized"] * 3
        outputs += [doctor.stdout, doctor.stderr]
        doctor_text = run_cli("doctor", "--timeout", "5")
        outputs += [doctor_text.stdout, doctor_text.stderr]

    # The secret did reach the backend, in the headers the config asked for...
    auths = {h.get("authorization") for h in seen} | {h.get("x-api-key") for h in seen}
    assert f"Bearer {SECRET}" in auths and SECRET in auths
    assert any(a and a.startswith("Basic ") for a in auths)
    # ...and nowhere else.
    loaded = load_config()
    resolved = resolve_profile(loaded.config.profiles["prod"])
    outputs += [
        repr(resolved),
        str(resolved),
        resolved.model_dump_json(),
        repr(resolved.metrics),
        repr(resolve_backend(resolved.logs)),  # type: ignore[arg-type]
    ]
    outputs += [r.getMessage() for r in caplog.records] + [caplog.text]
    blob = "\n".join(outputs)
    assert SECRET not in blob
    assert resolved.metrics is not None and resolved.metrics.secret is not None
    assert resolved.metrics.secret.get_secret_value() == SECRET


def test_an_unresolvable_reference_is_reported_not_raised(
    write_config: Callable[[str], Path],
    run_cli: Callable[..., Result],
) -> None:
    write_config(
        '[profiles.p.metrics]\ntype = "prometheus"\nurl = "http://127.0.0.1:1"\n'
        'auth = { kind = "bearer", secret = "env:MISSING_TOKEN_VAR" }\n'
    )
    show = run_cli("config", "show", "--json")
    view: dict[str, Any] = json.loads(show.stdout)["profiles"]["p"]["metrics"]["auth"]["secret"]
    assert view["resolves"] is False and view["value"] is None
    validate = run_cli("config", "validate")
    assert validate.exit_code == 0
    assert (
        "profiles.p.metrics.auth.secret: env:MISSING_TOKEN_VAR does not resolve" in validate.stderr
    )
    doctor = run_cli("doctor", "--json")
    assert doctor.exit_code == 1
    check = json.loads(doctor.stdout)["checks"][0]
    assert check["reason"] == "secret" and "MISSING_TOKEN_VAR" in check["message"]


def test_the_serve_token_reference_is_shown_as_a_status_and_checked_by_validate(
    write_config: Callable[[str], Path],
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(
        '[profiles.p.metrics]\ntype = "prometheus"\nurl = "http://127.0.0.1:1"\n'
        '[profiles.p.serve]\nauth = "bearer"\ntoken_ref = "env:MISSING_SERVE_TOKEN"\n'
    )
    show = run_cli("config", "show", "--json")
    view: dict[str, Any] = json.loads(show.stdout)["profiles"]["p"]["serve"]["token_ref"]
    assert view["ref"] == "env:MISSING_SERVE_TOKEN" and view["resolves"] is False
    assert "does not resolve" in run_cli("config", "show").stdout
    validate = run_cli("config", "validate")
    assert validate.exit_code == 0
    assert "profiles.p.serve.token_ref: env:MISSING_SERVE_TOKEN does not resolve" in (
        validate.stderr)
    # Once it resolves: no warning, and the value is never printed.
    monkeypatch.setenv("MISSING_SERVE_TOKEN", "s3rve-t0ken-value")
    validate = run_cli("config", "validate")
    assert "serve.token_ref" not in validate.stderr
    shown = run_cli("config", "show", "--json").stdout
    assert json.loads(shown)["profiles"]["p"]["serve"]["token_ref"]["resolves"] is True
    assert "s3rve-t0ken-value" not in shown + validate.stdout + validate.stderr


def test_set_secret_hidden_prompt_on_a_terminal() -> None:
    """On a real terminal the value is typed twice at a prompt that does not echo it."""
    import pty
    import subprocess
    import sys
    import time

    main, child = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from obsbench.cli.config_cmd import app; app(['set-secret', 'typed'])",
        ],
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    out = b""

    def read_until(marker: bytes) -> None:
        nonlocal out
        while marker not in out:
            chunk = os.read(main, 1024)
            if not chunk:
                raise AssertionError(out)
            out += chunk

    # getpass switches echo off with TCSAFLUSH after printing the prompt, which drops
    # input typed too early: wait a moment, as a person would, before typing.
    read_until(b"Value for secret 'typed':")
    time.sleep(0.5)
    os.write(main, SECRET.encode() + b"\n")
    read_until(b"Repeat for confirmation:")
    time.sleep(0.5)
    os.write(main, SECRET.encode() + b"\n")
    assert proc.wait(timeout=30) == 0
    try:
        while chunk := os.read(main, 1024):
            out += chunk
    except OSError:  # the terminal closes with the process
        pass
    os.close(main)
    assert b"stored secret 'typed' in the file store" in out
    assert SECRET.encode() not in out  # not echoed
    assert secrets.resolve_ref("keyring:obsbench/typed").get_secret_value() == SECRET
