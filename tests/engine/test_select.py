"""Choosing the investigator: --agent, the config, and what happens without an API key."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import fake_hub

from obsbench.agent.loop import InvestigationLoop
from obsbench.agent.select import build_investigator, parse_agent, select_agent
from obsbench.config import AgentConfig
from obsbench_servers.common.errors import ConfigError


def test_auto_without_a_key_is_offline_and_says_why() -> None:
    choice = select_agent(None, AgentConfig())
    assert choice.kind == "offline" and choice.api_key is None
    assert "no Anthropic API key" in choice.reason and "ANTHROPIC_API_KEY" in choice.reason


def test_auto_with_a_key_is_claude_with_the_configured_model(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-1")
    choice = select_agent(None, AgentConfig())
    assert (choice.kind, choice.model, choice.api_key) == ("anthropic", "claude-sonnet-4-6",
                                                           "sk-ant-1")
    assert choice.reason == "" and choice.label == "anthropic:claude-sonnet-4-6"
    haiku = select_agent("anthropic:claude-haiku-4-5", AgentConfig(model="claude-opus-4-5"))
    assert haiku.model == "claude-haiku-4-5"


def test_a_configured_key_reference_is_used(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("sk-ant-file\n")
    secret.chmod(0o600)
    cfg = AgentConfig(provider="anthropic", api_key=f"file:{secret}")
    assert select_agent(None, cfg).api_key == "sk-ant-file"


def test_explicit_anthropic_without_a_key_is_an_error_not_a_fallback() -> None:
    with pytest.raises(ConfigError) as err:
        select_agent("anthropic", AgentConfig())
    assert "needs an API key" in err.value.message and "ANTHROPIC_API_KEY" in (err.value.hint or "")
    with pytest.raises(ConfigError):
        select_agent(None, AgentConfig(provider="anthropic"))


def test_openai_compatible_local_server_needs_no_key() -> None:
    cfg = AgentConfig(provider="openai", model="llama3.1",
                      base_url="http://127.0.0.1:11434/v1")
    choice = select_agent(None, cfg)
    assert (choice.kind, choice.model, choice.base_url, choice.api_key) == (
        "openai", "llama3.1", "http://127.0.0.1:11434/v1", None)
    assert select_agent("openai:qwen2.5", cfg).model == "qwen2.5"


def test_openai_hosted_needs_a_model_and_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as err:
        select_agent("openai", AgentConfig())
    assert "needs a model name" in err.value.message
    with pytest.raises(ConfigError) as err:
        select_agent("openai:gpt-4o", AgentConfig())
    assert "OPENAI_API_KEY" in (err.value.hint or "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oai")
    choice = select_agent("openai:gpt-4o", AgentConfig())
    assert (choice.base_url, choice.api_key) == ("https://api.openai.com/v1", "sk-oai")


@pytest.mark.parametrize(("spec", "message"), [
    ("gpt", "unknown agent 'gpt'"),
    ("anthropc", "did you mean anthropic?"),
    ("offline:big", "takes no model"),
])
def test_bad_agent_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_agent(spec)
    assert message in f"{err.value.message} {err.value.hint}"


def test_offline_config_choice_is_offline() -> None:
    assert select_agent(None, AgentConfig(provider="offline")).kind == "offline"
    assert parse_agent(" Offline ") == ("offline", None)


def test_build_wires_budgets_prices_and_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-1")
    cfg = AgentConfig(max_steps=12, max_tokens=90_000, max_cost_usd=0.5,
                      prices={"claude-sonnet-4-6": {"input": 9.0, "output": 9.0}})
    inv = build_investigator(select_agent(None, cfg), fake_hub(), cfg, mode="ask")
    assert isinstance(inv, InvestigationLoop)
    assert (inv.config.max_steps, inv.config.max_tokens, inv.config.max_cost_usd,
            inv.config.mode) == (12, 90_000, 0.5, "ask")
    assert inv.name == "anthropic" and inv.model == "claude-sonnet-4-6"
    assert inv.provider.price is not None and inv.provider.price["input"] == 9.0  # type: ignore[attr-defined]
    fewer = build_investigator(select_agent(None, cfg), fake_hub(), cfg, max_steps=3)
    assert isinstance(fewer, InvestigationLoop) and fewer.config.max_steps == 3
    assert fewer.config.mode == "investigate"
