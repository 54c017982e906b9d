"""The obsbench configuration: profiles (one per stack), agent and UI settings.

The file is TOML at ``platformdirs.user_config_dir("obsbench")/config.toml``
(``OBSBENCH_CONFIG`` overrides the path). Three layers, later wins: the file,
then ``OBSBENCH_*`` environment variables (``__`` separates keys:
``OBSBENCH_PROFILES__PROD__METRICS__URL``), then ``--set key.path=value``
overrides from the command line. Validation is strict: an unknown key, a wrong
type or an unknown backend type is an error naming the file (or the variable),
the key path and the fix.

Backend connection models live in ``obsbench_servers.common.backend`` so that
the servers can take a resolved backend without importing the workbench; this
module holds what only the workbench needs: profiles, agent, UI, loading,
layering, editing with comments preserved, and secret resolution per profile.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union
from urllib.parse import urlsplit

import platformdirs
import tomlkit
import tomlkit.exceptions
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from obsbench.paths import data_dir
from obsbench.secrets import resolve_ref
from obsbench_servers.common.backend import (
    BACKEND_TYPES,
    SIGNALS,
    AlertsBackend,
    AnyBackend,
    ConfigPath,
    HttpUrl,
    InfraBackend,
    LocalBackend,
    LogsBackend,
    MetricsBackend,
    SecretRef,
    TracesBackend,
    config_error,
)
from obsbench_servers.common.errors import ConfigError

ENV_PREFIX = "OBSBENCH_"
# OBSBENCH_* variables that are settings of the process, not config keys.
RESERVED_ENV = frozenset(
    {
        "OBSBENCH_CONFIG",
        "OBSBENCH_CACHE_DIR",
        "OBSBENCH_STATE_DIR",
        "OBSBENCH_SHARED",
        "OBSBENCH_SECRETS_STORE",
        "OBSBENCH_GATE_DIR",
    }
)
DOCS = "docs/configuration.md"
SHIPPED_THEMES = ("obsbench-dark", "obsbench-light", "obsbench-high-contrast")
DEMO_SCENARIO = "bad-deploy-db-pool"
DEMO_SEED = 7


def config_path() -> Path:
    """``$OBSBENCH_CONFIG`` or ``<user config dir>/obsbench/config.toml``."""
    env = os.environ.get("OBSBENCH_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("obsbench")) / "config.toml"


# --------------------------------------------------------------------------- models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class ModelPrice(_Strict):
    """USD per million tokens."""

    input: NonNegativeFloat
    output: NonNegativeFloat
    cache_read: NonNegativeFloat | None = None
    cache_write: NonNegativeFloat | None = None


# Anthropic's published list prices (USD per million tokens; cache_write is the 5-minute
# rate), checked 2026-11-24 against Anthropic's pricing and model overview pages; a dated
# model id (claude-sonnet-4-6-YYYYMMDD) uses its base name's price. Override in
# [agent.prices]. Sonnet 5.5's cache reads were cut to $0.10 on 2026-10-07. Haiku 5.5 is
# priced by prompt length: the entry is the band for prompts up to 100k tokens, which is
# where an investigation stays (the loop summarises older evidence to keep its context
# near 60k tokens); longer prompts cost 5x.
_FABLE_5_2 = {"input": 8.0, "output": 40.0, "cache_read": 0.2, "cache_write": 10.0}
_FABLE = {"input": 10.0, "output": 50.0, "cache_read": 1.0, "cache_write": 12.5}
_FABLE_5_1 = {"input": 10.0, "output": 50.0, "cache_read": 0.25, "cache_write": 12.5}
_OPUS_5_5 = {"input": 4.0, "output": 20.0, "cache_read": 0.2, "cache_write": 5.0}
_OPUS = {"input": 5.0, "output": 25.0, "cache_read": 0.5, "cache_write": 6.25}
_OPUS_OLD = {"input": 15.0, "output": 75.0, "cache_read": 1.5, "cache_write": 18.75}
_SONNET = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}
_SONNET_5 = {"input": 2.0, "output": 10.0, "cache_read": 0.2, "cache_write": 2.5}
_SONNET_5_5 = {"input": 2.0, "output": 10.0, "cache_read": 0.1, "cache_write": 2.5}
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "claude-fable-5-2": _FABLE_5_2,
    "claude-mythos-5-2": _FABLE_5_2,
    "claude-fable-5-1": _FABLE_5_1,
    "claude-mythos-5-1": _FABLE_5_1,
    "claude-fable-5": _FABLE,
    "claude-mythos-5": _FABLE,
    "claude-opus-5-5": _OPUS_5_5,
    "claude-opus-5": _OPUS,
    "claude-opus-4-8": _OPUS,
    "claude-opus-4-7": _OPUS,
    "claude-opus-4-6": _OPUS,
    "claude-opus-4-5": _OPUS,
    "claude-opus-4-1": _OPUS_OLD,
    "claude-opus-4-0": _OPUS_OLD,
    "claude-opus-4": _OPUS_OLD,
    "claude-sonnet-5-5": _SONNET_5_5,
    "claude-sonnet-5": _SONNET_5,
    "claude-sonnet-4-6": _SONNET,
    "claude-sonnet-4-5": _SONNET,
    "claude-sonnet-4-0": _SONNET,
    "claude-sonnet-4": _SONNET,
    "claude-haiku-5-5": {"input": 0.1, "output": 0.5, "cache_read": 0.01, "cache_write": 0.125},
    "claude-haiku-4-5": {"input": 1.0, "output": 5.0, "cache_read": 0.1, "cache_write": 1.25},
    "claude-3-5-haiku": {"input": 0.8, "output": 4.0, "cache_read": 0.08, "cache_write": 1.0},
}
DEFAULT_MODEL = "claude-sonnet-4-6"  # claude-sonnet-4-5 reaches end of life on 2026-11-30


def _default_prices() -> dict[str, ModelPrice]:
    return {k: ModelPrice(**v) for k, v in DEFAULT_PRICES.items()}


class AgentConfig(_Strict):
    """Which LLM investigates, with what budget and prices."""

    provider: Literal["auto", "offline", "anthropic", "openai"] = "auto"
    model: str = DEFAULT_MODEL
    base_url: HttpUrl | None = None
    api_key: SecretRef | None = None
    max_steps: PositiveInt = 30
    max_tokens: PositiveInt = 500_000
    max_cost_usd: PositiveFloat = 2.0
    prices: dict[str, ModelPrice] = Field(default_factory=_default_prices)

    @field_validator("prices", mode="before")
    @classmethod
    def _with_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {**DEFAULT_PRICES, **value}

    def api_key_ref(self) -> str | None:
        """The configured reference, or the provider's conventional variable."""
        if self.api_key:
            return self.api_key
        if self.provider in ("auto", "anthropic"):
            return "env:ANTHROPIC_API_KEY"
        if self.provider == "openai":
            return "env:OPENAI_API_KEY"
        return None


class UIConfig(_Strict):
    theme: str = "obsbench-dark"
    themes_dir: ConfigPath | None = None

    @model_validator(mode="after")
    def _known_theme(self) -> Self:
        known = set(SHIPPED_THEMES)
        if self.themes_dir is not None and self.themes_dir.is_dir():
            known |= {p.stem for p in self.themes_dir.glob("*.toml")}
        if self.theme not in known:
            raise config_error(
                f"unknown theme {self.theme!r}", _one_of("theme", sorted(known), self.theme)
            )
        return self


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise config_error(
            f"{value!r} is not a valid regular expression ({exc})",
            "fix the pattern (Python re syntax; escape backslashes in TOML "
            "basic strings or use a 'literal string')",
        ) from None
    return value


def _check_host(value: str) -> str:
    if "://" in value or "/" in value or not re.fullmatch(r"[A-Za-z0-9.*-]+(:\d+)?", value):
        raise config_error(
            f"{value!r} is not a host name",
            'list bare host names, e.g. "wiki.example.com" (no scheme, no path)',
        )
    return value.lower()


class RedactionConfig(_Strict):
    """Extra redaction for this profile, on top of the built-in secret and PII rules."""

    patterns: list[Annotated[str, AfterValidator(_check_regex)]] = Field(default_factory=list)
    ip_addresses: bool = False


def _check_https(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise config_error(
            f"{value!r} is not an https URL",
            "authorization servers and their keys are reached over TLS only: "
            'write "https://auth.example.com/..." (a private CA: set ca_file)',
        )
    return value.strip()


def _check_resource(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise config_error(
            f"{value!r} is not a usable resource URI",
            'the canonical URL MCP clients use for this server, without a fragment, e.g. '
            '"https://obsbench.example.com/mcp" (RFC 8707)',
        )
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise config_error(
            f"{value!r} is plain http on a non-loopback host",
            "a resource reached beyond this machine is https (behind a TLS proxy)",
        )
    return value.strip()


JwtAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]


def _default_algorithms() -> list[JwtAlgorithm]:
    return ["RS256", "ES256"]


class OAuthServeConfig(_Strict):
    """OAuth 2.1 resource server settings for ``obsbench serve --transport http``."""

    issuer: Annotated[str, AfterValidator(_check_https)]
    jwks_url: Annotated[str, AfterValidator(_check_https)]
    resource: Annotated[str, AfterValidator(_check_resource)] | None = None
    authorization_servers: list[Annotated[str, AfterValidator(_check_https)]] = Field(
        default_factory=list
    )
    scopes: list[str] = Field(default_factory=list)
    algorithms: list[JwtAlgorithm] = Field(default_factory=_default_algorithms, min_length=1)
    leeway_s: NonNegativeFloat = Field(30.0, le=300)
    jwks_timeout_s: PositiveFloat = Field(5.0, le=60)
    jwks_cache_s: PositiveFloat = 3600.0
    jwks_refetch_interval_s: PositiveFloat = 60.0
    ca_file: ConfigPath | None = None


class ServeConfig(_Strict):
    """How ``obsbench serve --transport http`` authenticates callers for this profile."""

    auth: Literal["none", "bearer", "oauth"] = "none"
    token_ref: SecretRef | None = None
    oauth: OAuthServeConfig | None = None

    @model_validator(mode="after")
    def _mode_complete(self) -> Self:
        if self.auth == "bearer" and not self.token_ref:
            raise config_error('auth = "bearer" needs token_ref',
                               'set token_ref = "keyring:obsbench/serve-token"')
        if self.auth == "oauth" and self.oauth is None:
            raise config_error('auth = "oauth" needs an [oauth] table',
                               "set serve.oauth.issuer and serve.oauth.jwks_url "
                               f"(see {DOCS}, Serving)")
        if self.auth != "bearer" and self.token_ref:
            raise config_error(f"token_ref is set but auth = {self.auth!r}",
                               'set auth = "bearer", or remove token_ref')
        if self.auth != "oauth" and self.oauth is not None:
            raise config_error(f"an [oauth] table is set but auth = {self.auth!r}",
                               'set auth = "oauth", or remove the table')
        return self


def _check_profile_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", value):
        raise config_error(
            f"{value!r} is not a usable profile name",
            "use letters, digits, '-' and '_' (it is typed as --profile NAME)",
        )
    return value


ProfileName = Annotated[str, AfterValidator(_check_profile_name)]


class Profile(_Strict):
    """One stack: a backend per signal, plus the profile's safety settings."""

    description: str = ""
    # Shortcut: every signal not configured below uses the embedded store over this bundle.
    bundle: ConfigPath | None = None
    metrics: MetricsBackend | None = None
    logs: LogsBackend | None = None
    traces: TracesBackend | None = None
    alerts: list[AlertsBackend] = Field(default_factory=list)
    infra: InfraBackend | None = None
    writes_enabled: bool = False
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    runbooks_dir: ConfigPath | None = None
    allowed_runbook_hosts: list[Annotated[str, AfterValidator(_check_host)]] = Field(
        default_factory=list
    )
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @field_validator("alerts", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("redaction", mode="before")
    @classmethod
    def _pattern_list(cls, value: Any) -> Any:
        return {"patterns": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _bundle_default(self) -> Self:
        if self.bundle is None:
            return self
        for signal in ("metrics", "logs", "traces", "infra"):
            if getattr(self, signal) is None:
                setattr(self, signal, LocalBackend(type="local", bundle=self.bundle))
        if not self.alerts:
            self.alerts = [LocalBackend(type="local", bundle=self.bundle)]
        return self

    def backends(self) -> list[tuple[str, AnyBackend]]:
        """Every configured ``(signal, backend)``, alerts possibly several times."""
        out: list[tuple[str, AnyBackend]] = []
        for signal in SIGNALS:
            if signal == "alerts":
                out.extend(("alerts", b) for b in self.alerts)
            else:
                backend = getattr(self, signal)
                if backend is not None:
                    out.append((signal, backend))
        return out


class Config(_Strict):
    default_profile: str | None = None
    agent: AgentConfig = Field(default_factory=AgentConfig)
    ui: UIConfig = Field(default_factory=UIConfig)
    profiles: dict[ProfileName, Profile] = Field(default_factory=dict)


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: where, what, and the fix."""

    source: str
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}\n  fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "key": self.key, "message": self.message, "fix": self.fix}


class ConfigValidationError(ConfigError):
    """The configuration is invalid; ``problems`` lists every error with its fix."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        n = len(problems)
        head = f"invalid configuration ({n} problem{'s' if n != 1 else ''}):\n"
        super().__init__(
            head + "\n".join(str(p) for p in problems),
            f"fix the keys above (every key is described in {DOCS}), then run "
            "`obsbench config validate`",
        )


def _one_of(what: str, choices: list[str] | tuple[str, ...], got: str | None) -> str:
    fix = f"{what} must be one of: {', '.join(choices)}"
    if got is not None:
        close = difflib.get_close_matches(str(got), list(choices), n=1, cutoff=0.6)
        if close:
            fix = f"did you mean {close[0]!r}? ({fix})"
    return fix


def _format_key(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out or "(top level)"


def _clean_loc(loc: tuple[int | str, ...], data: Any) -> list[str | int]:
    """The key path of an error in the user's terms: union tags and wrappers dropped."""
    parts: list[str | int] = []
    node: Any = data
    for item in loc:
        if isinstance(node, dict):
            if isinstance(item, str) and item in node:
                parts.append(item)
                node = node[item]
                continue
            if node.get("type") == item or item == 0:
                continue  # discriminated-union tag, or a single table standing for a list
            parts.append(item)
            node = None
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            parts.append(item)
            node = node[item]
        elif node is None:
            parts.append(item)
        # Anything else is an internal wrapper name; skip it.
    return parts


def _resolve_type(tp: Any, node: Any) -> Any:
    """Strip Annotated/Optional/unions (choosing the union member by ``node['type']``)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
            wanted = node.get("type") if isinstance(node, dict) else None
            for m in members:
                if isinstance(m, type) and issubclass(m, BaseModel):
                    ann = m.model_fields.get("type")
                    if ann is not None and wanted in typing.get_args(ann.annotation):
                        tp = m
                        break
            else:
                return None
            continue
        return tp


def _model_at(parts: list[str | int], data: Any) -> type[BaseModel] | None:
    """The config model class that the table at ``parts`` is validated as."""
    tp: Any = Config
    node: Any = data
    for part in parts:
        tp = _resolve_type(tp, node)
        if tp is None:
            return None
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            f = tp.model_fields.get(str(part))
            if f is None:
                return None
            tp = f.annotation
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        else:
            return None
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    tp = _resolve_type(tp, node)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


_NO_ECHO = frozenset({"secret", "api_key", "password", "token", "headers"})


def _problem(
    err: Any, data: dict[str, Any], source_for: typing.Callable[[list[str | int]], str]
) -> Problem:
    parts = _clean_loc(tuple(err["loc"]), data)
    key = _format_key(parts)
    source = source_for(parts)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    last = str(parts[-1]) if parts else ""
    got = err.get("input")
    echo = (
        not _NO_ECHO.intersection({last, *(str(p) for p in parts[-2:-1])})
        and isinstance(got, str | int | float | bool)
        and len(str(got)) <= 80
    )
    got_text = f" (got {got!r})" if echo else ""
    signal = next((str(p) for p in reversed(parts) if str(p) in SIGNALS), None)

    if kind == "obsbench":
        return Problem(source, key, str(ctx.get("problem", err["msg"])), str(ctx.get("fix", "")))
    if kind == "extra_forbidden":
        model = _model_at(parts[:-1], data)
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(last, allowed, n=1, cutoff=0.6)
        if close:
            fix = f"did you mean {close[0]!r}? (rename the key)"
        elif allowed:
            fix = f"remove it; keys allowed here: {', '.join(allowed)}"
        else:
            fix = "remove it"
        return Problem(source, key, f"unknown key {last!r}", fix)
    if kind == "union_tag_invalid":
        choices = BACKEND_TYPES.get(signal or "", ())
        return Problem(
            source,
            key + ".type" if parts else "type",
            f"unknown {signal or ''} backend type {ctx.get('tag')!r}".replace("  ", " "),
            _one_of("type", list(choices), str(ctx.get("tag"))),
        )
    if kind == "union_tag_not_found":
        choices = BACKEND_TYPES.get(signal or "", ())
        return Problem(
            source,
            key + ".type",
            "the backend has no type",
            f"add type = one of: {', '.join(choices)}",
        )
    if kind == "missing":
        return Problem(source, key, f"{last} is required", f"add {last} = … (see {DOCS})")
    if kind == "literal_error":
        expected = [
            e.strip(" '\"")
            for e in re.split(r",| or ", str(ctx.get("expected", "")))
            if e.strip(" '\"")
        ]
        return Problem(
            source,
            key,
            f"invalid value{got_text}",
            _one_of(last, expected, got if isinstance(got, str) else None),
        )
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"):
        whole = kind.startswith("int")
        return Problem(
            source,
            key,
            f"expected a {'whole ' if whole else ''}number{got_text}",
            f"write {last} = {'5' if whole else '30'} (a bare number, no quotes or units)",
        )
    if kind in ("bool_parsing", "bool_type"):
        return Problem(
            source,
            key,
            f"expected true or false{got_text}",
            f"write {last} = true or {last} = false",
        )
    if kind in ("string_type", "string_too_short"):
        return Problem(source, key, f"expected a string{got_text}", f'write {last} = "…" (quoted)')
    if kind in ("greater_than", "greater_than_equal"):
        bound = ctx.get("gt", ctx.get("ge"))
        return Problem(
            source,
            key,
            f"must be {'>' if kind == 'greater_than' else '>='} {bound}{got_text}",
            f"use a value above {bound}",
        )
    if kind in ("list_type", "tuple_type", "set_type"):
        return Problem(source, key, "expected a list", f'write {last} = ["…", "…"]')
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return Problem(
            source,
            key,
            "expected a table",
            f"write it as a [table] or an inline table {last} = {{ key = value }}",
        )
    if kind == "value_error":
        return Problem(source, key, str(err["msg"]).removeprefix("Value error, "), f"see {DOCS}")
    return Problem(source, key, str(err["msg"]) + got_text, f"see {DOCS}")


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedConfig:
    """A validated configuration and where each part came from."""

    config: Config
    path: Path
    exists: bool
    # dotted key -> "environment variable X" or "--set ..." for keys not from the file.
    sources: dict[str, str] = field(default_factory=dict)

    def profile(self, name: str | None = None) -> tuple[str, Profile]:
        """The named profile, else the default one, else the only one."""
        profiles = self.config.profiles
        if name is None:
            name = self.config.default_profile
        if name is None:
            if len(profiles) == 1:
                return next(iter(profiles.items()))
            if not profiles:
                where = str(self.path) if self.exists else f"{self.path} (absent)"
                raise ConfigError(
                    f"no profile is configured in {where}",
                    "run `obsbench config init` (writes a demo profile on the embedded store), "
                    "or pass --bundle DIR",
                )
            raise ConfigError(
                f"{len(profiles)} profiles and no default_profile in {self.path}",
                f"pass --profile NAME (one of: {', '.join(profiles)}) or set default_profile",
            )
        if name not in profiles:
            raise ConfigError(
                f"no profile {name!r} in {self.path}",
                _one_of("--profile", list(profiles), name)
                if profiles
                else "run `obsbench config init --profile NAME`",
            )
        return name, profiles[name]


def _read_document(path: Path) -> tomlkit.TOMLDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})", "save the file as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", "check the path and its permissions"
        ) from exc
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(
            f"{path}:{exc.line}:{exc.col}: not valid TOML: {str(exc).split(' at line')[0]}",
            "fix the syntax at that line (strings need quotes; each [table] only once)",
        ) from exc


def _parse_value(text: str) -> Any:
    """A command-line or environment value: TOML value, else a string."""
    stripped = text.strip()
    try:
        parsed = tomllib.loads(f"v = {stripped}")
    except tomllib.TOMLDecodeError:
        return text
    if len(parsed) != 1:  # "1\nother = 2" is text, not a value plus a smuggled key
        return text
    value = parsed["v"]
    if isinstance(value, datetime | date | time):
        return text
    return value


def _norm(key: str) -> str:
    return key.lower().replace("-", "_")


def _set_path(data: dict[str, Any], path: list[str], value: Any) -> list[str | int]:
    """Set ``value`` at ``path`` (matching existing keys loosely); returns the real path."""
    node: Any = data
    real: list[str | int] = []
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) > len(node):
                raise ConfigError(
                    f"cannot set {'.'.join(path)}: {part!r} is not an index of a list "
                    f"of {len(node)}",
                    "use an index from 0, e.g. alerts.0.url",
                )
            idx = int(part)
            if idx == len(node):
                node.append({})
            real.append(idx)
            if last:
                node[idx] = value
            else:
                if not isinstance(node[idx], dict | list):
                    node[idx] = {}
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ConfigError(
                f"cannot set {'.'.join(path)}: {_format_key(real)} is not a table",
                "check the key path",
            )
        key = next((k for k in node if _norm(k) == _norm(part)), part)
        real.append(key)
        if last:
            node[key] = value
        else:
            if not isinstance(node.get(key), dict | list):
                node[key] = {}
            node = node[key]
    return real


def split_key(key: str) -> list[str]:
    """``profiles.prod.alerts[1].url`` -> ``['profiles', 'prod', 'alerts', '1', 'url']``."""
    parts = [p for p in re.split(r"\.|\[(\d+)\]", key.strip()) if p]
    if not parts or any(not re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        raise ConfigError(f"{key!r} is not a key path", "write it like profiles.prod.metrics.url")
    return parts


def env_overrides(env: typing.Mapping[str, str]) -> list[tuple[list[str], str, str]]:
    """``OBSBENCH_A__B__C=value`` -> ``(['a', 'b', 'c'], value, label)``, for config keys only."""
    out = []
    roots = set(Config.model_fields)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not path or path[0] not in roots or any(not p for p in path):
            continue
        out.append((path, env[name], f"environment variable {name}"))
    return out


def parse_override(text: str) -> tuple[list[str], str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise ConfigError(
            f"--set {text!r} has no '='",
            "write --set key.path=value, e.g. --set profiles.prod.metrics.timeouts.read=60",
        )
    return split_key(key), value


def _normalise(data: dict[str, Any]) -> None:
    profiles = data.get("profiles")
    if isinstance(profiles, dict):
        for prof in profiles.values():
            if isinstance(prof, dict) and isinstance(prof.get("alerts"), dict):
                prof["alerts"] = [prof["alerts"]]


def validate_data(
    data: dict[str, Any], path: Path, sources: dict[str, str] | None = None
) -> Config:
    """Validate raw data; every problem is reported with its source, key and fix."""
    sources = sources or {}

    def source_for(parts: list[str | int]) -> str:
        key = _format_key(parts)
        for k, label in sorted(sources.items(), key=lambda kv: -len(kv[0])):
            if (
                key == k
                or key.startswith(k + ".")
                or key.startswith(k + "[")
                or k.startswith(key + ".")
                or k.startswith(key + "[")
            ):
                return label
        return str(path)

    try:
        config = Config.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors(include_url=False):
            p = _problem(err, data, source_for)
            if (p.key, p.message) not in seen:
                seen.add((p.key, p.message))
                problems.append(p)
        raise ConfigValidationError(path, problems) from None
    if config.default_profile is not None and config.default_profile not in config.profiles:
        raise ConfigValidationError(
            path,
            [
                Problem(
                    source_for(["default_profile"]),
                    "default_profile",
                    f"names no profile ({config.default_profile!r})",
                    _one_of("default_profile", list(config.profiles), config.default_profile)
                    if config.profiles
                    else "add a [profiles.NAME] table or remove default_profile",
                )
            ],
        )
    return config


def load_config(
    path: Path | None = None,
    *,
    env: typing.Mapping[str, str] | None = None,
    overrides: list[str] | None = None,
) -> LoadedConfig:
    """Read the file, apply environment variables and ``--set`` overrides, validate."""
    path = path or config_path()
    env = os.environ if env is None else env
    exists = path.is_file()
    data: dict[str, Any] = _read_document(path).unwrap() if exists else {}
    _normalise(data)
    sources: dict[str, str] = {}
    for parts, value, label in env_overrides(env):
        sources[_format_key(_set_path(data, parts, _parse_value(value)))] = label
    for text in overrides or []:
        parts, value = parse_override(text)
        sources[_format_key(_set_path(data, parts, _parse_value(value)))] = (
            f"--set {text.partition('=')[0]}"
        )
    return LoadedConfig(validate_data(data, path, sources), path, exists, sources)


# --------------------------------------------------------------------------- secrets per profile


def secret_refs(name: str, profile: Profile) -> list[tuple[str, AnyBackend, str]]:
    """``(key path, backend, ref)`` for every backend of the profile that names a secret."""
    out = []
    alert_index = 0
    for signal, backend in profile.backends():
        key = f"profiles.{name}.{signal}"
        if signal == "alerts":
            key += f"[{alert_index}]"
            alert_index += 1
        auth = getattr(backend, "auth", None)
        if auth is not None and auth.secret:
            out.append((f"{key}.auth.secret", backend, auth.secret))
    return out


def resolve_backend(backend: AnyBackend) -> AnyBackend:
    """A copy of the backend carrying its resolved secret (``ConfigError`` if it does not)."""
    auth = getattr(backend, "auth", None)
    if auth is None or not auth.secret:
        return backend
    return backend.with_secret(resolve_ref(auth.secret))


def resolve_profile(profile: Profile) -> Profile:
    """A copy of the profile whose backends carry their secrets, for handing to the servers."""
    resolved = profile.model_copy(deep=True)
    for signal in ("metrics", "logs", "traces", "infra"):
        backend = getattr(resolved, signal)
        if backend is not None:
            setattr(resolved, signal, resolve_backend(backend))
    resolved.alerts = [resolve_backend(b) for b in resolved.alerts]  # type: ignore[misc]
    return resolved


# --------------------------------------------------------------------------- editing


def write_atomic(path: Path, text: str) -> None:
    """Replace the file in one step, keeping its permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    tmp.replace(path)


def set_value(path: Path, key: str, raw_value: str) -> Any:
    """Set one key in the file, keeping comments; refuses a value that does not validate."""
    if not path.is_file():
        raise ConfigError(f"no config file at {path}", "run `obsbench config init` first")
    doc = _read_document(path)
    parts = split_key(key)
    value = _parse_value(raw_value)
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        nxt_is_index = parts[i + 1].isdigit()
        if isinstance(node, list):
            idx = int(part) if part.isdigit() else -1
            if not 0 <= idx < len(node):
                raise ConfigError(
                    f"{key}: no element {part} in {'.'.join(parts[:i])}",
                    f"it has {len(node)} element(s), indexed from 0",
                )
            node = node[idx]
            continue
        if part not in node:
            node[part] = tomlkit.aot() if nxt_is_index else tomlkit.table()
        node = node[part]
        if (
            isinstance(node, dict)
            and nxt_is_index
            and parts[i + 1] == "0"
            and not isinstance(node, list)
        ):
            node = [node]  # a single [table] addressed as element 0
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(
                f"{key}: cannot set a list element that does not exist", "check the index"
            )
        node[int(last)] = value
    else:
        node[last] = value
    data = doc.unwrap()
    _normalise(data)
    validate_data(data, path)
    write_atomic(path, tomlkit.dumps(doc))
    return value


def _toml_str(value: str) -> str:
    return tomlkit.string(value).as_string()


def demo_bundle_path() -> Path:
    """Where ``obsbench demo`` generates its default scenario (see cli/demo_cmd.py)."""
    return data_dir() / "demo" / f"{DEMO_SCENARIO}-seed{DEMO_SEED}"


def profile_block(name: str, bundle: Path) -> str:
    """A starter profile on the embedded store, with the real-stack example commented out."""
    return f"""\
# The {name!r} profile: every signal on the embedded store over one telemetry bundle.
# Create the bundle with `obsbench demo`
# (or: obsbench scenarios generate {DEMO_SCENARIO} --out DIR).
[profiles.{name}]
description = "Embedded demo incident (no observability stack needed)"
bundle = {_toml_str(str(bundle))}
writes_enabled = false

# A real stack: copy, uncomment and edit. Secrets are references, never values:
# keyring:obsbench/NAME (store with `obsbench config set-secret NAME`), env:VAR, file:/path.
#
# [profiles.prod]
# description = "Production EU"
# writes_enabled = false                # write tools (silences, acks, notes) stay unregistered
# runbooks_dir = "~/runbooks"
# allowed_runbook_hosts = ["wiki.example.com"]
#
# [profiles.prod.metrics]
# type = "prometheus"                   # prometheus | thanos | mimir | victoriametrics | local
# url = "https://prometheus.example.com"
# auth = {{ kind = "bearer", secret = "keyring:obsbench/prod-prometheus" }}
# timeouts = {{ connect = 5, read = 30, total = 60 }}
# limits = {{ requests_per_second = 10, max_series = 500 }}
#
# [profiles.prod.logs]
# type = "loki"                         # loki | elasticsearch | opensearch | adx | local
# url = "https://loki.example.com"
# tenant = "team-a"                     # sent as X-Scope-OrgID
#
# [profiles.prod.traces]
# type = "tempo"                        # jaeger | tempo | local
# url = "https://tempo.example.com"
# tls = {{ ca_file = "~/certs/internal-ca.pem" }}
#
# [[profiles.prod.alerts]]              # several alert sources: one [[...]] each
# type = "alertmanager"                 # alertmanager | pagerduty | prometheus | local
# url = "https://alertmanager.example.com"
#
# [[profiles.prod.alerts]]
# type = "pagerduty"
# auth = {{ kind = "api_key", secret = "env:PAGERDUTY_TOKEN" }}
# service_ids = ["PXXXXXX"]
#
# [profiles.prod.infra]
# type = "kubernetes"                   # kubernetes | local
# context = "prod-eu"                   # a context of ~/.kube/config (or set kubeconfig)
# namespace = "shop"
"""


def starter_config(profile: str = "demo", bundle: Path | None = None) -> str:
    """The commented config ``obsbench config init`` writes."""
    _check_profile_name(profile)
    return f"""\
# obsbench configuration. Every key is described in {DOCS}.
#
# One profile per stack; a profile names a backend per signal (metrics, logs,
# traces, alerts, infra). Layering, later wins: this file, then OBSBENCH_*
# environment variables (OBSBENCH_PROFILES__PROD__METRICS__URL=...), then
# --set key.path=value on the command line.
# Check it with `obsbench config validate`, then `obsbench doctor`.

default_profile = {_toml_str(profile)}

[agent]
# auto: Claude when the API key resolves (ANTHROPIC_API_KEY by default), else the
# offline investigator. Also: offline | anthropic | openai (any OpenAI-compatible API).
provider = "auto"
model = "{DEFAULT_MODEL}"
# api_key = "keyring:obsbench/anthropic"
# base_url = "http://127.0.0.1:11434/v1"   # for provider = "openai" (Ollama, vLLM, ...)
max_cost_usd = 2.0

[ui]
theme = "obsbench-dark"     # obsbench-dark | obsbench-light | obsbench-high-contrast

{profile_block(profile, bundle or demo_bundle_path())}"""
