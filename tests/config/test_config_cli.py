"""`obsbench config path|init|show|validate|set`: first minutes; edits keep comments."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from obsbench.config import config_path, demo_bundle_path, load_config


def test_path_honours_obsbench_config(run_cli: Callable[..., Result], config_file: Path) -> None:
    result = run_cli("config", "path")
    assert result.exit_code == 0
    assert result.stdout.strip() == str(config_file)
    assert "does not exist yet" in result.stderr


def test_path_defaults_to_the_platform_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("OBSBENCH_CONFIG")
    assert config_path() == Path(platformdirs.user_config_dir("obsbench")) / "config.toml"


def test_init_writes_a_commented_valid_starter(
    run_cli: Callable[..., Result], config_file: Path
) -> None:
    result = run_cli("config", "init")
    assert result.exit_code == 0, result.stderr
    text = config_file.read_text()
    assert text.count("\n#") > 30  # it teaches: comments, and a commented real stack
    assert "# [profiles.prod.metrics]" in text and "keyring:obsbench/prod-prometheus" in text
    data = tomllib.loads(text)
    assert data["default_profile"] == "demo"
    assert data["profiles"]["demo"]["bundle"] == str(demo_bundle_path())
    cfg = load_config(config_file, env={}).config
    assert [(s, b.type) for s, b in cfg.profiles["demo"].backends()] == [
        (s, "local") for s in ("metrics", "logs", "traces", "alerts", "infra")
    ]
    validate = run_cli("config", "validate")
    assert validate.exit_code == 0
    assert validate.stdout.strip() == f"valid: {config_file} — profiles: demo (default)"


def test_init_the_commented_real_stack_validates_once_uncommented(
    run_cli: Callable[..., Result],
    config_file: Path,
) -> None:
    """The example a user is told to uncomment must itself be a valid config."""
    run_cli("config", "init")
    text = config_file.read_text()
    example = text[text.index("# [profiles.prod]") :]
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") else line.lstrip("#") for line in example.splitlines()
    )
    config_file.write_text(text + "\n" + uncommented + "\n")
    cfg = load_config(config_file, env={}).config
    prod = cfg.profiles["prod"]
    assert prod.metrics is not None and prod.metrics.type == "prometheus"
    assert [a.type for a in prod.alerts] == ["alertmanager", "pagerduty"]
    assert prod.infra is not None and prod.infra.type == "kubernetes"


def test_init_refuses_to_overwrite_and_force_keeps_a_backup(
    run_cli: Callable[..., Result],
    config_file: Path,
) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text('# mine\ndefault_profile = "x"\n[profiles.x]\nbundle = "/b"\n')
    result = run_cli("config", "init")
    assert result.exit_code == 2
    assert "already exists; nothing was changed" in result.stderr and "--force" in result.stderr
    assert config_file.read_text().startswith("# mine")
    result = run_cli("config", "init", "--force")
    assert result.exit_code == 0, result.stderr
    backups = list(config_file.parent.glob("config.toml.bak-*"))
    assert len(backups) == 1 and backups[0].read_text().startswith("# mine")
    assert 'default_profile = "demo"' in config_file.read_text()


def test_init_profile_adds_to_an_existing_file_keeping_it(
    run_cli: Callable[..., Result],
    config_file: Path,
) -> None:
    run_cli("config", "init")
    config_file.write_text(
        config_file.read_text().replace("[ui]", "# my own note about the UI\n[ui]")
    )
    result = run_cli("config", "init", "--profile", "staging")
    assert result.exit_code == 0, result.stderr
    text = config_file.read_text()
    assert "# my own note about the UI" in text
    assert "[profiles.staging]" in text
    assert text.count("# [profiles.prod]") == 1  # the long example is not repeated
    assert set(load_config(config_file, env={}).config.profiles) == {"demo", "staging"}
    again = run_cli("config", "init", "--profile", "staging")
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_set_keeps_comments_and_refuses_invalid_values(
    run_cli: Callable[..., Result],
    config_file: Path,
) -> None:
    run_cli("config", "init")
    config_file.write_text(config_file.read_text() + "# trailing note\n")
    before = config_file.read_text()
    result = run_cli("config", "set", "profiles.demo.writes_enabled", "true")
    assert result.exit_code == 0, result.stderr
    result = run_cli("config", "set", "profiles.prod.metrics.type", "prometheus")
    assert result.exit_code == 2  # a backend without url is not valid: nothing written
    assert "profiles.prod.metrics" in result.stderr and "needs url" in result.stderr
    result = run_cli("config", "set", "profiles.demo.metrics.timeouts.read", "fast")
    assert result.exit_code == 2
    after = config_file.read_text()
    # Every comment line of the original survives, in order.
    assert [ln for ln in before.splitlines() if ln.startswith("#")] == [
        ln for ln in after.splitlines() if ln.startswith("#")
    ]
    assert "writes_enabled = true" in after
    assert load_config(config_file, env={}).config.profiles["demo"].writes_enabled is True


def test_set_creates_tables_and_array_elements(
    run_cli: Callable[..., Result], config_file: Path
) -> None:
    run_cli("config", "init")
    # A half-built backend would be refused, so the element comes as an inline table.
    result = run_cli(
        "config", "set", "profiles.lab.alerts", '[{type = "alertmanager", url = "http://am:9093"}]'
    )
    assert result.exit_code == 0, result.stderr
    result = run_cli("config", "set", "profiles.lab.alerts[0].url", "http://am2:9093")
    assert result.exit_code == 0, result.stderr
    cfg = load_config(config_file, env={}).config
    assert cfg.profiles["lab"].alerts[0].url == "http://am2:9093"  # type: ignore[union-attr]


def test_set_a_secret_field_takes_only_a_reference(
    run_cli: Callable[..., Result], config_file: Path
) -> None:
    run_cli("config", "init")
    result = run_cli(
        "config",
        "set",
        "profiles.demo.metrics",
        '{type = "prometheus", url = "http://p:9090", '
        'auth = {kind = "bearer", secret = "plain-token-value"}}',
    )
    assert result.exit_code == 2
    assert "plain-token-value" not in result.stderr + result.stdout
    assert "plain-token-value" not in config_file.read_text()


def test_validate_exit_codes_and_json(
    run_cli: Callable[..., Result], write_config: Callable[[str], Path]
) -> None:
    missing = run_cli("config", "validate")
    assert missing.exit_code == 2 and "config init" in missing.stderr
    path = write_config('[profiles.p.metrics]\ntype = "promethus"\nurl = "http://p"\n')
    bad = run_cli("config", "validate")
    assert bad.exit_code == 2
    assert f"{path}: profiles.p.metrics.type: unknown metrics backend type" in bad.stderr
    assert "fix: did you mean 'prometheus'" in bad.stderr
    bad_json = run_cli("config", "validate", "--json")
    assert bad_json.exit_code == 2
    doc = json.loads(bad_json.stdout)
    assert doc["valid"] is False
    assert doc["problems"][0]["key"] == "profiles.p.metrics.type"
    write_config('[profiles.p.metrics]\ntype = "prometheus"\nurl = "http://p"\n')
    good = run_cli("config", "validate", "--json")
    assert good.exit_code == 0
    assert json.loads(good.stdout) == {
        "valid": True,
        "path": str(path),
        "profiles": ["p"],
        "default_profile": None,
        "warnings": [],
    }


def test_show_text_is_toml_with_defaults_omitted(
    run_cli: Callable[..., Result], write_config: Callable[[str], Path]
) -> None:
    write_config(
        '[profiles.p.metrics]\ntype = "prometheus"\nurl = "http://p:9090"\n'
        'timeouts = { read = 12 }\n[agent]\nprovider = "offline"\n'
    )
    result = run_cli("config", "show")
    assert result.exit_code == 0, result.stderr
    body = "\n".join(ln for ln in result.stdout.splitlines() if not ln.startswith("#"))
    data = tomllib.loads(body)
    assert data["profiles"]["p"]["metrics"] == {
        "type": "prometheus",
        "url": "http://p:9090",
        "timeouts": {"read": 12.0},
    }
    assert data["agent"] == {"provider": "offline"}
    unknown = run_cli("config", "show", "--profile", "q")
    assert unknown.exit_code == 2 and "did you mean 'p'" not in unknown.stderr
    assert "no profile 'q'" in unknown.stderr
