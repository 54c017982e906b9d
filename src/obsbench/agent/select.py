"""Which investigator runs: ``--agent offline|anthropic[:MODEL]|openai[:MODEL]``, or the config.

Without ``--agent`` the config's ``[agent] provider`` decides; ``auto`` (the
default) means Claude when its API key resolves, else the offline investigator,
and the choice says so (``reason``), so the person knows no LLM was asked.
Naming ``anthropic`` or ``openai`` explicitly without a usable key is a
configuration error with the fix, not a silent fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from obsbench.config import DEFAULT_MODEL, AgentConfig
from obsbench.secrets import resolve_ref
from obsbench_servers.common.errors import ConfigError

if TYPE_CHECKING:
    from obsbench.agent.base import Investigator
    from obsbench.hub import Hub

Kind = Literal["offline", "anthropic", "openai"]
KINDS: tuple[Kind, ...] = ("offline", "anthropic", "openai")
ANTHROPIC_DEFAULT_MODEL = DEFAULT_MODEL
ANTHROPIC_KEY_REF = "env:ANTHROPIC_API_KEY"
OPENAI_KEY_REF = "env:OPENAI_API_KEY"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass
class AgentChoice:
    """The chosen investigator and why (``reason`` is shown to the person when set)."""

    kind: Kind
    model: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.model}" if self.model else self.kind


def parse_agent(spec: str) -> tuple[Kind, str | None]:
    """``anthropic:claude-haiku-4-5`` -> ("anthropic", "claude-haiku-4-5")."""
    kind, _, model = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        import difflib  # noqa: PLC0415

        close = difflib.get_close_matches(kind, KINDS, n=1)
        raise ConfigError(
            f"unknown agent {spec!r}",
            (f"did you mean {close[0]}? " if close else "")
            + "use offline, anthropic[:MODEL] or openai[:MODEL]")
    if kind == "offline" and model:
        raise ConfigError(f"the offline investigator takes no model (got {spec!r})",
                          "use --agent offline")
    return kind, (model.strip() or None)


def _try_key(ref: str | None) -> tuple[str | None, str]:
    """The secret a reference names, or None and why not."""
    if not ref:
        return None, "no API key reference"
    try:
        return resolve_ref(ref).get_secret_value(), ""
    except ConfigError as exc:
        return None, exc.message


def select_agent(spec: str | None, config: AgentConfig) -> AgentChoice:
    """Resolve ``--agent`` (or the config) to a choice with its key, model and base URL."""
    if spec:
        kind, model = parse_agent(spec)
        explicit = True
    else:
        explicit = config.provider != "auto"
        kind = "anthropic" if config.provider == "auto" else config.provider
        model = None
    if kind == "offline":
        return AgentChoice("offline", reason="" if explicit else "the config chose offline")
    if kind == "anthropic":
        own = config.provider in ("auto", "anthropic")
        ref = config.api_key if (own and config.api_key) else ANTHROPIC_KEY_REF
        key, why = _try_key(ref)
        model = model or (config.model if own else ANTHROPIC_DEFAULT_MODEL)
        if key is None:
            if not explicit:
                return AgentChoice(
                    "offline",
                    reason=f"no Anthropic API key ({why}): using the offline investigator "
                           "(deterministic, no LLM); set ANTHROPIC_API_KEY or [agent] api_key "
                           "to investigate with Claude")
            raise ConfigError(f"--agent anthropic needs an API key: {why}",
                              "export ANTHROPIC_API_KEY=..., or set [agent] api_key to a "
                              "secret reference (obsbench config set-secret anthropic)")
        base = str(config.base_url) if (config.provider == "anthropic" and config.base_url) \
            else None
        return AgentChoice("anthropic", model, key, base)
    # openai-compatible
    own = config.provider == "openai"
    model = model or (config.model if own else None)
    if not model:
        raise ConfigError("--agent openai needs a model name",
                          "e.g. --agent openai:llama3.1 (Ollama) or set [agent] provider = "
                          "\"openai\" and model = \"...\"")
    base_url = str(config.base_url).rstrip("/") if (own and config.base_url) \
        else OPENAI_DEFAULT_BASE_URL
    ref = config.api_key if (own and config.api_key) else OPENAI_KEY_REF
    key, why = _try_key(ref)
    if key is None and base_url == OPENAI_DEFAULT_BASE_URL:
        raise ConfigError(f"the OpenAI API needs a key: {why}",
                          "export OPENAI_API_KEY=..., or for a local server (Ollama, vLLM, "
                          "LM Studio) set [agent] provider = \"openai\" and base_url = "
                          "\"http://127.0.0.1:11434/v1\"")
    return AgentChoice("openai", model, key, base_url)


def build_investigator(choice: AgentChoice, hub: Hub, config: AgentConfig, *,
                       mode: str = "investigate", max_steps: int | None = None,
                       transport: Any = None) -> Investigator:
    """The investigator for a choice, over a connected hub.

    ``transport`` is handed to the provider's HTTP client (an ``httpx2.AsyncClient``
    for Anthropic, an ``httpx`` transport for OpenAI-compatible servers): tests use mocks.
    """
    if choice.kind == "offline":
        try:
            from obsbench.agent.offline import OfflineInvestigator  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigError(
                f"the offline investigator is not available in this build ({exc})",
                "use --agent anthropic (with ANTHROPIC_API_KEY) or --agent openai:MODEL") \
                from None
        offline: Investigator = OfflineInvestigator(hub)
        return offline
    from obsbench.agent.loop import InvestigationLoop, LoopConfig  # noqa: PLC0415

    cfg = LoopConfig(max_steps=max_steps or config.max_steps, max_tokens=config.max_tokens,
                     max_cost_usd=config.max_cost_usd,
                     mode="ask" if mode == "ask" else "investigate")
    prices = {k: v.model_dump() for k, v in config.prices.items()}
    if choice.kind == "anthropic":
        from obsbench.agent.providers.anthropic import AnthropicProvider  # noqa: PLC0415

        provider: Any = AnthropicProvider(
            api_key=choice.api_key or "", model=choice.model or ANTHROPIC_DEFAULT_MODEL,
            prices=prices, base_url=choice.base_url, http_client=transport)
    else:
        from obsbench.agent.providers.openai import OpenAIProvider  # noqa: PLC0415

        provider = OpenAIProvider(
            model=choice.model or "", base_url=choice.base_url or OPENAI_DEFAULT_BASE_URL,
            api_key=choice.api_key, prices=prices, transport=transport)
    return InvestigationLoop(hub, provider, cfg)
