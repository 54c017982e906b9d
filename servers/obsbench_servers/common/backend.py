"""Connection settings of one backend: type, URL, auth reference, tenant, TLS, timeouts, limits.

Both sides use these models: the workbench reads them from the config file and
resolves the secret references; a server only ever receives a resolved copy
(``backend.with_secret(value)``) and builds its HTTP client from it (see
``common/http.py``). The config file holds *references* to secrets
(``keyring:obsbench/prod-prometheus``, ``env:PROM_TOKEN``, ``file:/path``),
never the values; a resolved value lives in a private attribute that no dump,
repr or log line includes.

Validation errors carry a ``fix`` in their context (``PydanticCustomError``),
so the config loader can name the file, the key and what to write instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from obsbench_servers.common.timeutil import TimeParseError, parse_duration_ns

SIGNALS: tuple[str, ...] = ("metrics", "logs", "traces", "alerts", "infra")

# signal -> backend types it accepts (the config's `type` values).
BACKEND_TYPES: dict[str, tuple[str, ...]] = {
    "metrics": ("prometheus", "thanos", "mimir", "victoriametrics", "local"),
    "logs": ("loki", "elasticsearch", "opensearch", "adx", "local"),
    "traces": ("jaeger", "tempo", "local"),
    "alerts": ("alertmanager", "pagerduty", "prometheus", "local"),
    "infra": ("kubernetes", "local"),
}

SECRET_SCHEMES: tuple[str, ...] = ("keyring", "env", "file")
DEFAULT_KEYRING_SERVICE = "obsbench"

# Headers that carry credentials: they belong in `auth`, whose value is a reference.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def config_error(problem: str, fix: str) -> PydanticCustomError:
    """A validation error whose context carries the fix the config loader prints."""
    return PydanticCustomError("obsbench", "{problem}", {"problem": problem, "fix": fix})


# --------------------------------------------------------------------------- field types


def _check_secret_ref(value: str) -> str:
    scheme, sep, target = value.partition(":")
    if not sep or scheme not in SECRET_SCHEMES or not target.strip():
        # Never echo the value: it may be a secret pasted where a reference belongs.
        raise config_error(
            "the value is not a secret reference (a secret itself must never be in this file)",
            "write a reference, never the secret itself: keyring:obsbench/NAME (store it with "
            "`obsbench config set-secret NAME`), env:VARIABLE or file:/path/to/secret",
        )
    if scheme == "env" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
        raise config_error(
            f"{target!r} is not an environment variable name",
            "use env:NAME with letters, digits and underscores, e.g. env:PROM_TOKEN",
        )
    return value


def _check_duration(value: str) -> str:
    try:
        if parse_duration_ns(value) <= 0:
            raise TimeParseError("duration must be positive")
    except TimeParseError as exc:
        raise config_error(
            f"{value!r} is not a duration ({exc})", 'write e.g. "6h", "7d" or "31d"'
        ) from None
    return value


def _check_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise config_error(
            f"{value!r} is not an http(s) URL",
            'write the base URL with its scheme, e.g. "https://prometheus.example.com" '
            'or "http://127.0.0.1:9090"',
        )
    if parts.username or parts.password:
        raise config_error(
            "the URL contains credentials",
            'remove user:password@ from the URL; set auth.kind = "basic", auth.username and '
            "auth.secret = a reference (keyring:…, env:… or file:…)",
        )
    return value.rstrip("/")


def _expand_path(value: Path, info: ValidationInfo) -> Path:
    """``~`` expands; a relative path is relative to the config file's directory."""
    path = value.expanduser()
    base = (info.context or {}).get("base_dir") if info.context else None
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


SecretRef = Annotated[str, AfterValidator(_check_secret_ref)]
Duration = Annotated[str, AfterValidator(_check_duration)]
HttpUrl = Annotated[str, AfterValidator(_check_url)]
ConfigPath = Annotated[Path, AfterValidator(_expand_path)]


def parse_secret_ref(ref: str) -> tuple[str, str, str]:
    """Split a reference into ``(scheme, service, name)``; service is only meaningful for keyring.

    ``keyring:obsbench/prod-prom`` and ``keyring:prod-prom`` both name the entry
    ``prod-prom`` of the keyring service ``obsbench``.
    """
    scheme, _, target = _check_secret_ref(ref).partition(":")
    if scheme == "keyring":
        service, sep, name = target.rpartition("/")
        return scheme, (service if sep and service else DEFAULT_KEYRING_SERVICE), name
    return scheme, "", target


class _Strict(BaseModel):
    """Unknown keys are errors (a typo must never be silently ignored)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, validate_assignment=False)


# --------------------------------------------------------------------------- parts


class Timeouts(_Strict):
    """Seconds. ``total`` bounds one whole request, body included."""

    connect: PositiveFloat = 5.0
    read: PositiveFloat = 30.0
    total: PositiveFloat = 60.0


class Limits(_Strict):
    """What obsbench will ask of this backend, so a model cannot hammer it."""

    requests_per_second: PositiveFloat = 10.0
    concurrency: PositiveInt = 4
    max_points_per_series: PositiveInt = 11_000
    max_series: PositiveInt = 500
    max_range: Duration = "31d"
    max_log_lines: PositiveInt = 5_000
    max_spans_per_trace: PositiveInt = 50_000
    max_response_bytes: PositiveInt = 64 * 1024 * 1024

    @property
    def max_range_ns(self) -> int:
        return parse_duration_ns(self.max_range)


class TLS(_Strict):
    """Server verification and client certificates."""

    ca_file: ConfigPath | None = None
    cert_file: ConfigPath | None = None
    key_file: ConfigPath | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _key_needs_cert(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise config_error(
                "key_file is set without cert_file",
                "set cert_file to the client certificate that goes with the key",
            )
        return self


AuthKind = Literal["none", "basic", "bearer", "header", "api_key", "azure_ad"]


class Auth(_Strict):
    """How to authenticate. ``secret`` is a reference; the value never enters the file."""

    kind: AuthKind = "none"
    username: str | None = None
    secret: SecretRef | None = None
    header: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        k = self.kind
        if k == "none":
            if self.secret or self.username or self.header:
                raise config_error(
                    'auth has a username, secret or header but kind is "none"',
                    'set kind = "basic", "bearer", "header", "api_key" or "azure_ad"',
                )
            return self
        if self.secret is None:
            raise config_error(
                f'auth kind "{k}" needs a secret reference',
                'add secret = "keyring:obsbench/NAME" (then `obsbench config set-secret NAME`) '
                'or "env:VARIABLE" or "file:/path"',
            )
        if k in ("basic", "azure_ad") and not self.username:
            what = "the user name" if k == "basic" else "the application (client) id"
            raise config_error(f'auth kind "{k}" needs username', f"add username = {what}")
        if k == "header":
            if not self.header or not _HEADER_NAME.match(self.header):
                raise config_error(
                    'auth kind "header" needs header = the header name',
                    'add e.g. header = "X-API-Key"; the value comes from secret',
                )
        elif self.header is not None:
            raise config_error(
                f'header is only used with kind = "header" (kind is "{k}")',
                'remove header, or set kind = "header"',
            )
        return self


# --------------------------------------------------------------------------- backends


class BackendBase(_Strict):
    """Everything an HTTP backend shares: endpoint, auth, tenant, headers, TLS, timeouts, limits."""

    # Subclasses narrow ``type`` to a Literal.
    type: str
    name: str | None = None
    url: HttpUrl | None = None
    auth: Auth = Field(default_factory=Auth)
    tenant: str | None = None
    tenant_header: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    tls: TLS = Field(default_factory=TLS)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    limits: Limits = Field(default_factory=Limits)

    _secret: SecretStr | None = PrivateAttr(default=None)

    default_url: ClassVar[str | None] = None
    default_tenant_header: ClassVar[str] = "X-Scope-OrgID"
    url_example: ClassVar[str] = "https://backend.example.com"

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise config_error(
                    f"{name!r} is not a valid HTTP header name", "use letters, digits and -"
                )
            if name.lower() in _CREDENTIAL_HEADERS:
                raise config_error(
                    f"header {name!r} carries a credential, which must not be in the config file",
                    'use auth instead: kind = "bearer" / "basic" / "api_key", or kind = "header" '
                    f'with header = "{name}", and secret = a reference',
                )
        return value

    @model_validator(mode="after")
    def _endpoint(self) -> Self:
        if self.url is None:
            if self.default_url is not None:
                self.url = self.default_url
            elif self.requires_url():
                raise config_error(
                    f'a "{self.type}" backend needs url',
                    f'add url = "{self.url_example}"',
                )
        return self

    def requires_url(self) -> bool:
        return True

    # -- resolved secret (never dumped, never in repr)

    def with_secret(self, value: SecretStr | str | None) -> Self:
        """A copy carrying the resolved secret value, for building a client."""
        copy = self.model_copy(deep=True)
        copy._secret = SecretStr(value) if isinstance(value, str) else value
        return copy

    @property
    def secret(self) -> SecretStr | None:
        return self._secret

    @property
    def tenant_header_name(self) -> str:
        return self.tenant_header or self.default_tenant_header

    def endpoint(self) -> str:
        """The base URL requests are made against."""
        if self.url is None:
            raise ValueError(f"{self.type} backend has no url")
        return self.url

    def target(self) -> str:
        """What a person recognises this backend by (shown in doctor and config show)."""
        return self.url or ""


class PrometheusBackend(BackendBase):
    """Prometheus HTTP API and the compatible stores (Thanos, Mimir, VictoriaMetrics)."""

    type: Literal["prometheus", "thanos", "mimir", "victoriametrics"]
    # Label matcher injected into every selector to pin a tenant (shared Prometheus).
    tenant_label: str | None = None
    # Golden-signal overrides: signal name -> PromQL template with {service}.
    golden_signals: dict[str, str] = Field(default_factory=dict)
    url_example: ClassVar[str] = "http://prometheus.monitoring:9090"

    @property
    def tenant_header_name(self) -> str:
        if self.tenant_header:
            return self.tenant_header
        return "THANOS-TENANT" if self.type == "thanos" else self.default_tenant_header


class LocalBackend(_Strict):
    """The embedded store over a telemetry bundle directory."""

    type: Literal["local"]
    name: str | None = None
    bundle: ConfigPath
    limits: Limits = Field(default_factory=Limits)

    def target(self) -> str:
        return str(self.bundle)

    def with_secret(self, value: SecretStr | str | None) -> Self:
        return self

    @property
    def secret(self) -> SecretStr | None:
        return None


class LogFields(_Strict):
    """Which document fields hold the log line's parts (Elasticsearch, OpenSearch, ADX)."""

    timestamp: str = "@timestamp"
    service: str = "service.name"
    level: str = "log.level"
    message: str = "message"
    trace_id: str = "trace.id"
    span_id: str = "span.id"


class LokiBackend(BackendBase):
    """Loki's HTTP API; stream labels naming the service and level are configurable
    (Loki 3 sets ``service_name`` and ``detected_level``; older setups use ``app`` or ``job``
    and ``level``)."""

    type: Literal["loki"]
    service_label: str = Field(default="service_name", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    level_label: str = Field(default="detected_level", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    url_example: ClassVar[str] = "http://loki.monitoring:3100"


class ElasticsearchBackend(BackendBase):
    """Elasticsearch or OpenSearch ``_search``; ECS field names by default."""

    type: Literal["elasticsearch", "opensearch"]
    index: str = "logs-*"
    fields: LogFields = Field(default_factory=LogFields)
    url_example: ClassVar[str] = "https://elasticsearch.example.com:9200"


def _adx_fields() -> LogFields:
    return LogFields(
        timestamp="Timestamp",
        service="Service",
        level="Level",
        message="Message",
        trace_id="TraceId",
        span_id="SpanId",
    )


class ADXBackend(BackendBase):
    """Azure Data Explorer (Kusto): cluster URL, database, table and column mapping."""

    type: Literal["adx"]
    cluster: HttpUrl
    database: str
    table: str = "Logs"
    fields: LogFields = Field(default_factory=_adx_fields)
    # Azure AD (Entra ID) tenant for auth.kind = "azure_ad" (client credentials).
    azure_tenant_id: str | None = None
    azure_authority: HttpUrl = "https://login.microsoftonline.com"
    url_example: ClassVar[str] = "https://mycluster.westeurope.kusto.windows.net"

    def requires_url(self) -> bool:
        return False

    @model_validator(mode="after")
    def _adx_auth(self) -> Self:
        if self.url is not None:
            raise config_error(
                "adx takes cluster, not url", f'rename url to cluster = "{self.url}"'
            )
        if self.auth.kind == "azure_ad" and not self.azure_tenant_id:
            raise config_error(
                'auth kind "azure_ad" needs azure_tenant_id',
                "add azure_tenant_id = your Entra ID (Azure AD) tenant id",
            )
        return self

    def endpoint(self) -> str:
        return self.cluster

    def target(self) -> str:
        return f"{self.cluster} db={self.database}"


class JaegerBackend(BackendBase):
    type: Literal["jaeger"]
    url_example: ClassVar[str] = "http://jaeger-query.tracing:16686"


class TempoBackend(BackendBase):
    type: Literal["tempo"]
    url_example: ClassVar[str] = "http://tempo.tracing:3200"


class AlertmanagerBackend(BackendBase):
    type: Literal["alertmanager"]
    url_example: ClassVar[str] = "http://alertmanager.monitoring:9093"


class PrometheusAlertsBackend(BackendBase):
    """Prometheus's own ``/api/v1/alerts`` (pending and firing rules)."""

    type: Literal["prometheus"]
    # As PrometheusBackend.tenant_label: only alerts labelled tenant_label=tenant are shown
    # (the rules of a shared Prometheus see every tenant; the API cannot filter).
    tenant_label: str | None = None
    url_example: ClassVar[str] = "http://prometheus.monitoring:9090"


class PagerDutyBackend(BackendBase):
    """PagerDuty REST API v2; ``auth.kind = "api_key"`` sends ``Token token=…``."""

    type: Literal["pagerduty"]
    service_ids: list[str] = Field(default_factory=list)
    team_ids: list[str] = Field(default_factory=list)
    # PagerDuty requires a From: header (a user's e-mail) on writes.
    from_email: str | None = None
    default_url: ClassVar[str | None] = "https://api.pagerduty.com"

    @model_validator(mode="after")
    def _needs_token(self) -> Self:
        if self.auth.kind not in ("api_key", "bearer"):
            raise config_error(
                "PagerDuty needs a REST API key",
                'set auth = { kind = "api_key", secret = "keyring:obsbench/pagerduty" } '
                '(an OAuth token works with kind = "bearer")',
            )
        return self


class KubernetesBackend(BackendBase):
    """The Kubernetes API: from a kubeconfig context, in-cluster, or an explicit URL."""

    type: Literal["kubernetes"]
    kubeconfig: ConfigPath | None = None
    context: str | None = None
    namespace: str | None = None
    in_cluster: bool = False
    url_example: ClassVar[str] = "https://kubernetes.example.com:6443"

    def requires_url(self) -> bool:
        return False

    def target(self) -> str:
        if self.url:
            return self.url
        if self.in_cluster:
            return "in-cluster"
        where = str(self.kubeconfig) if self.kubeconfig else "kubeconfig"
        return f"{where} context={self.context}" if self.context else where


MetricsBackend = Annotated[PrometheusBackend | LocalBackend, Field(discriminator="type")]
LogsBackend = Annotated[
    LokiBackend | ElasticsearchBackend | ADXBackend | LocalBackend, Field(discriminator="type")
]
TracesBackend = Annotated[JaegerBackend | TempoBackend | LocalBackend, Field(discriminator="type")]
AlertsBackend = Annotated[
    AlertmanagerBackend | PagerDutyBackend | PrometheusAlertsBackend | LocalBackend,
    Field(discriminator="type"),
]
InfraBackend = Annotated[KubernetesBackend | LocalBackend, Field(discriminator="type")]

AnyBackend = BackendBase | LocalBackend


def backend_summary(backend: AnyBackend) -> dict[str, Any]:
    """A safe, JSON-able description (no secret values; the reference only)."""
    data: dict[str, Any] = {"type": backend.type, "target": backend.target()}
    if backend.name:
        data["name"] = backend.name
    if isinstance(backend, BackendBase):
        data["auth"] = backend.auth.kind
        if backend.tenant:
            data["tenant"] = backend.tenant
    return data
