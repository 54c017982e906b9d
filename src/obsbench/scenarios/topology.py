"""The simulated shop: services, their routes, the call graph and the cluster they run on.

Everything the generators need to know about a service is data in this one
module, so a scenario can say "user-api" and every signal agrees on its
namespace, pods, image, naming convention and log format. The call graph is
expressed per route: a route lists the calls it makes (sync HTTP, database,
cache, async publish, external API), with how many, how likely, in parallel
or not, and the client timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLUSTER = "prod-eu-west-1"
DOMAIN = "api.shop.example.com"
REGISTRY = "registry.shop.example.com"


@dataclass(frozen=True, slots=True)
class Call:
    """One outgoing call a route makes per request."""

    target: str
    op: str
    count: float = 1.0  # mean calls per request when the call happens
    prob: float = 1.0  # probability that the request makes the call at all
    parallel: bool = False  # issued concurrently with the route's other parallel calls
    timeout_ms: float = 0.0  # client timeout; 0 = none
    err_prop: float = 1.0  # share of callee failures that fail the caller's request
    kind: str = "http"  # http | db | cache | produce | external


@dataclass(frozen=True, slots=True)
class Route:
    """An operation a service serves: an HTTP route, a SQL statement, a cache command."""

    op: str
    self_ms: float
    sigma: float = 0.45
    err: float = 0.0005
    share: float = 0.0  # share of entry traffic (only the entry service's routes)
    calls: tuple[Call, ...] = ()
    statement: str = ""  # SQL / cache command text for db and cache routes

    @property
    def method(self) -> str:
        return self.op.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.op.split(" ", 1)[1] if " " in self.op else self.op


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_request_m: int
    cpu_limit_m: int
    mem_request_mi: int
    mem_limit_mi: int


@dataclass(frozen=True, slots=True)
class HPA:
    min_replicas: int
    max_replicas: int
    target_cpu_pct: int


@dataclass(frozen=True, slots=True)
class Service:
    """A workload of the shop (or an external dependency seen only through its callers)."""

    name: str
    namespace: str
    kind: str  # gateway | app | consumer | database | cache | external | batch
    language: str  # node | go | java | python | dotnet | envoy | c
    framework: str
    convention: str  # metric naming convention of its own metrics (see docs/scenarios.md)
    workload: str  # Deployment | StatefulSet | CronJob | External
    replicas: int
    image: str
    version: str
    previous_versions: tuple[str, ...]
    resources: Resources
    routes: tuple[Route, ...]
    port: int = 8080
    container: str = ""
    hpa: HPA | None = None
    cpu_ms_per_req: float = 2.0
    idle_cpu_m: float = 20.0
    mem_base_mi: float = 100.0
    threads: float = 0.0  # cores a process can use (Node.js: 1); 0 = unbounded
    log_format: str = ""  # pino | zap | logback | python | dotnet | envoy | postgres | redis
    stack_style: str = "one-record"  # one-record | per-line
    team: str = "shop"
    description: str = ""
    uses_pool: str = ""  # db pool flavour: hikari | sqlalchemy | pgx | ""
    pool_size: int = 0

    @property
    def container_name(self) -> str:
        return self.container or self.name

    def route(self, op: str) -> Route:
        for r in self.routes:
            if r.op == op:
                return r
        raise KeyError(f"{self.name} has no route {op!r}")

    @property
    def is_external(self) -> bool:
        return self.kind == "external"

    def image_ref(self, version: str | None = None) -> str:
        return f"{self.image}:{version or self.version}"


def _db(op: str, ms: float, statement: str, sigma: float = 0.5) -> Route:
    return Route(op, ms, sigma=sigma, err=0.00002, statement=statement)


def _pg(op: str, **kw: object) -> Call:
    return Call("postgres", op, kind="db", **kw)  # type: ignore[arg-type]


def _redis(op: str, **kw: object) -> Call:
    return Call("redis", op, kind="cache", **kw)  # type: ignore[arg-type]


SERVICES: tuple[Service, ...] = (
    Service(
        name="api-gateway", namespace="edge", kind="gateway", language="envoy",
        framework="Envoy 1.29 (Istio sidecar metrics)", convention="istio",
        workload="Deployment", replicas=3, image="docker.io/envoyproxy/envoy",
        version="v1.29.2", previous_versions=("v1.29.1", "v1.28.3"),
        resources=Resources(2000, 4000, 256, 512), container="envoy", port=8443,
        hpa=HPA(3, 8, 75), cpu_ms_per_req=13.0, idle_cpu_m=60.0, mem_base_mi=180.0,
        log_format="envoy", team="platform",
        description="Edge proxy: TLS termination, JWT validation, routing to frontend",
        routes=tuple(
            Route(op, 1.2, sigma=0.3, err=0.0001, share=share,
                  calls=(Call("frontend", op, timeout_ms=15000),))
            for op, share in (("GET /", 0.34), ("GET /product/{id}", 0.36),
                              ("GET /account", 0.07), ("GET /cart", 0.15),
                              ("POST /checkout", 0.08))
        ),
    ),
    Service(
        name="frontend", namespace="shop", kind="app", language="node",
        framework="Node.js 20 / Fastify SSR", convention="otel", workload="Deployment",
        replicas=3, image=f"{REGISTRY}/shop/frontend", version="4.12.0",
        previous_versions=("4.11.3", "4.11.2"), resources=Resources(1000, 2000, 256, 512),
        port=3000, hpa=HPA(3, 6, 70), cpu_ms_per_req=9.0, idle_cpu_m=40.0,
        mem_base_mi=220.0, threads=0.85, log_format="pino", stack_style="per-line",
        description="Server-side rendered web shop and BFF",
        routes=(
            Route("GET /", 18, calls=(
                Call("user-api", "GET /v1/session", parallel=True, timeout_ms=2000,
                     err_prop=0.5),
                Call("inventory", "GET /v1/stock/{sku}", count=3, parallel=True,
                     timeout_ms=2000, err_prop=0.25))),
            Route("GET /product/{id}", 22, calls=(
                Call("user-api", "GET /v1/users/{id}", parallel=True, timeout_ms=3000,
                     err_prop=0.7),
                Call("inventory", "GET /v1/stock/{sku}", parallel=True, timeout_ms=2000,
                     err_prop=0.3))),
            Route("GET /account", 15, calls=(
                Call("user-api", "GET /v1/users/{id}", timeout_ms=3000),
                Call("orders", "GET /v1/orders", timeout_ms=5000))),
            Route("GET /cart", 10, calls=(
                Call("checkout", "GET /v1/cart", timeout_ms=5000),)),
            Route("POST /checkout", 14, calls=(
                Call("checkout", "POST /v1/checkout", timeout_ms=15000),)),
        ),
    ),
    Service(
        name="checkout", namespace="shop", kind="app", language="go",
        framework="Go 1.22 net/http + client_golang", convention="prometheus",
        workload="Deployment", replicas=3, image=f"{REGISTRY}/shop/checkout",
        version="1.18.4", previous_versions=("1.18.3", "1.18.1"),
        resources=Resources(250, 1000, 128, 256), cpu_ms_per_req=18.0, idle_cpu_m=45.0,
        mem_base_mi=64.0, log_format="zap", stack_style="one-record",
        description="Cart and checkout orchestration",
        routes=(
            Route("GET /v1/cart", 5, calls=(
                _redis("HGETALL cart"),
                Call("inventory", "GET /v1/stock/{sku}", count=2, parallel=True,
                     timeout_ms=2000, err_prop=0.4))),
            Route("POST /v1/checkout", 25, sigma=0.4, calls=(
                _redis("HGETALL cart"),
                Call("inventory", "POST /v1/reservations", timeout_ms=3000),
                Call("payment", "POST /v1/payments", timeout_ms=10000),
                Call("orders", "POST /v1/orders", timeout_ms=5000),
                _redis("DEL cart"))),
        ),
    ),
    Service(
        name="payment", namespace="payments", kind="app", language="java",
        framework="Spring Boot 3.2 (Micrometer)", convention="micrometer",
        workload="Deployment", replicas=2, image=f"{REGISTRY}/payments/payment",
        version="3.7.2", previous_versions=("3.7.1", "3.6.9"),
        resources=Resources(500, 1500, 1024, 1536), cpu_ms_per_req=9.0, idle_cpu_m=90.0,
        mem_base_mi=760.0, log_format="logback", stack_style="one-record",
        uses_pool="hikari", pool_size=20, team="payments",
        description="Payment orchestration; calls the external payment gateway (PSP)",
        routes=(
            Route("POST /v1/payments", 22, sigma=0.35, calls=(
                Call("payment-gateway", "POST /v1/charges", timeout_ms=8000, kind="external"),
                _pg("INSERT payments"))),
        ),
    ),
    Service(
        name="payment-gateway", namespace="", kind="external", language="",
        framework="third-party PSP (api.paygw.example.com)", convention="none",
        workload="External", replicas=0, image="", version="", previous_versions=(),
        resources=Resources(0, 0, 0, 0), port=443, team="vendor",
        description="External payment service provider; visible only through payment",
        routes=(Route("POST /v1/charges", 240, sigma=0.3, err=0.0008),),
    ),
    Service(
        name="user-api", namespace="shop", kind="app", language="python",
        framework="Python 3.12 FastAPI + SQLAlchemy", convention="otel",
        workload="Deployment", replicas=3, image=f"{REGISTRY}/shop/user-api",
        version="2.3.0", previous_versions=("2.2.9", "2.2.7"),
        resources=Resources(500, 1000, 384, 768), cpu_ms_per_req=6.0, idle_cpu_m=55.0,
        hpa=HPA(3, 12, 70), mem_base_mi=310.0, log_format="python", stack_style="per-line",
        uses_pool="sqlalchemy", pool_size=20,
        description="Users, sessions and preferences",
        routes=(
            Route("GET /v1/session", 3, sigma=0.4, calls=(
                _redis("GET session"),
                _pg("SELECT sessions", prob=0.08))),
            Route("GET /v1/users/{id}", 40, sigma=0.5, err=0.0009, calls=(
                _redis("GET session"),
                _pg("SELECT users"),
                _pg("SELECT user_preferences"))),
        ),
    ),
    Service(
        name="orders", namespace="shop", kind="app", language="java",
        framework="Spring Boot 3.2 (Micrometer)", convention="micrometer",
        workload="Deployment", replicas=2, image=f"{REGISTRY}/shop/orders",
        version="5.4.1", previous_versions=("5.4.0", "5.3.8"),
        resources=Resources(500, 1500, 1024, 1536), cpu_ms_per_req=6.0, idle_cpu_m=95.0,
        mem_base_mi=820.0, log_format="logback", stack_style="one-record",
        uses_pool="hikari", pool_size=15,
        description="Order lifecycle; publishes order-events to Kafka",
        routes=(
            Route("GET /v1/orders", 8, calls=(_pg("SELECT orders"),)),
            Route("POST /v1/orders", 12, calls=(
                _pg("INSERT orders"),
                _pg("UPDATE orders"),
                Call("notification", "process order-events", kind="produce"))),
        ),
    ),
    Service(
        name="inventory", namespace="shop", kind="app", language="go",
        framework="Go 1.22 chi + pgx + client_golang", convention="prometheus",
        workload="Deployment", replicas=3, image=f"{REGISTRY}/shop/inventory",
        version="2.9.0", previous_versions=("2.8.5", "2.8.4"),
        resources=Resources(300, 600, 256, 512), cpu_ms_per_req=1.5, idle_cpu_m=25.0,
        hpa=HPA(3, 10, 70),
        mem_base_mi=96.0, log_format="zap", stack_style="one-record",
        uses_pool="pgx", pool_size=10,
        description="Stock levels and reservations",
        routes=(
            Route("GET /v1/stock/{sku}", 2, sigma=0.4, calls=(
                _redis("GET stock"),
                _pg("SELECT stock", prob=0.05))),
            Route("POST /v1/reservations", 5, calls=(_pg("UPDATE stock"),)),
        ),
    ),
    Service(
        name="notification", namespace="shop", kind="consumer", language="dotnet",
        framework=".NET 8 worker (Confluent.Kafka), OTLP export", convention="otlp",
        workload="Deployment", replicas=2, image=f"{REGISTRY}/shop/notification",
        version="1.4.3", previous_versions=("1.4.2", "1.4.0"),
        resources=Resources(100, 500, 192, 384), cpu_ms_per_req=12.0, idle_cpu_m=20.0,
        mem_base_mi=170.0, log_format="dotnet", stack_style="one-record",
        description="Consumes order-events and sends e-mail",
        routes=(Route("process order-events", 45, sigma=0.5, err=0.002),),
    ),
    Service(
        name="postgres", namespace="data", kind="database", language="c",
        framework="PostgreSQL 15.6 + postgres_exporter", convention="postgres_exporter",
        workload="StatefulSet", replicas=1, image="docker.io/bitnami/postgresql",
        version="15.6.0", previous_versions=("15.5.0",),
        resources=Resources(2000, 4000, 4096, 6144),
        port=5432, container="postgresql", cpu_ms_per_req=0.25, idle_cpu_m=120.0,
        mem_base_mi=3100.0, log_format="postgres", team="data",
        description="Primary OLTP database (shop)",
        routes=(
            _db("SELECT users", 0.6, "SELECT id, email, display_name, created_at FROM users "
                "WHERE id = $1"),
            _db("SELECT user_preferences", 0.4, "SELECT key, value FROM user_preferences "
                "WHERE user_id = $1 AND key = $2"),
            _db("SELECT sessions", 0.5, "SELECT user_id, expires_at FROM sessions "
                "WHERE token = $1"),
            _db("SELECT orders", 1.8, "SELECT id, status, total_cents, created_at FROM orders "
                "WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20"),
            _db("INSERT orders", 1.5, "INSERT INTO orders (id, customer_id, status, "
                "total_cents, created_at) VALUES ($1, $2, $3, $4, now())"),
            _db("UPDATE orders", 1.2, "UPDATE orders SET status = $1, updated_at = now() "
                "WHERE id = $2"),
            _db("SELECT stock", 0.5, "SELECT sku, available, reserved FROM stock "
                "WHERE sku = $1"),
            _db("UPDATE stock", 1.1, "UPDATE stock SET reserved = reserved + $1 "
                "WHERE sku = $2 AND available - reserved >= $1"),
            _db("INSERT payments", 1.3, "INSERT INTO payments (id, order_id, amount_cents, "
                "status, psp_reference) VALUES ($1, $2, $3, $4, $5)"),
        ),
    ),
    Service(
        name="redis", namespace="data", kind="cache", language="c",
        framework="Redis 7.2 + redis_exporter", convention="redis_exporter",
        workload="StatefulSet", replicas=1, image="docker.io/bitnami/redis", version="7.2.4",
        previous_versions=("7.2.3",), resources=Resources(500, 1000, 2560, 3072), port=6379,
        container="redis", cpu_ms_per_req=0.02, idle_cpu_m=15.0, mem_base_mi=1350.0,
        log_format="redis", team="data",
        description="Cache: sessions, stock, carts (maxmemory 2gb, allkeys-lru)",
        routes=(
            _db("GET session", 0.25, "GET session:?", sigma=0.3),
            _db("GET stock", 0.2, "GET stock:?", sigma=0.3),
            _db("HGETALL cart", 0.3, "HGETALL cart:?", sigma=0.3),
            _db("DEL cart", 0.2, "DEL cart:?", sigma=0.3),
        ),
    ),
    Service(
        name="nightly-reconcile", namespace="batch", kind="batch", language="python",
        framework="Python 3.12 CronJob (psycopg)", convention="pushgateway",
        workload="CronJob", replicas=0, image=f"{REGISTRY}/batch/nightly-reconcile",
        version="0.9.3", previous_versions=("0.9.2",), resources=Resources(250, 1000, 256, 512),
        cpu_ms_per_req=0.0, idle_cpu_m=150.0, mem_base_mi=120.0, log_format="python",
        stack_style="per-line", team="finance-eng",
        description="Nightly settlement reconciliation against the PSP (CronJob 0 2 * * *)",
        routes=(Route("reconcile", 1000.0),),
    ),
)

BY_NAME: dict[str, Service] = {s.name: s for s in SERVICES}
ENTRY = "api-gateway"

# Nodes of the cluster (EKS-style names) and their zones.
NODES: tuple[tuple[str, str, str], ...] = (
    ("ip-10-0-1-23.eu-west-1.compute.internal", "10.0.1.23", "eu-west-1a"),
    ("ip-10-0-1-87.eu-west-1.compute.internal", "10.0.1.87", "eu-west-1a"),
    ("ip-10-0-2-14.eu-west-1.compute.internal", "10.0.2.14", "eu-west-1b"),
    ("ip-10-0-2-201.eu-west-1.compute.internal", "10.0.2.201", "eu-west-1b"),
    ("ip-10-0-3-17.eu-west-1.compute.internal", "10.0.3.17", "eu-west-1c"),
    ("ip-10-0-3-142.eu-west-1.compute.internal", "10.0.3.142", "eu-west-1c"),
)


def service(name: str) -> Service:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(BY_NAME)}") from None


def internal_services() -> list[Service]:
    """Services that run in the cluster (have pods)."""
    return [s for s in SERVICES if s.workload in ("Deployment", "StatefulSet")]


def callers_of(name: str) -> list[tuple[Service, Route, Call]]:
    """Every (service, route, call) that calls ``name``."""
    out = []
    for s in SERVICES:
        for r in s.routes:
            for c in r.calls:
                if c.target == name:
                    out.append((s, r, c))
    return out


def edges() -> list[tuple[str, str, str]]:
    """The service-level call graph: (caller, callee, kind) without duplicates, sorted."""
    seen: set[tuple[str, str, str]] = set()
    for s in SERVICES:
        for r in s.routes:
            for c in r.calls:
                kind = "async" if c.kind == "produce" else "sync"
                seen.add((s.name, c.target, kind))
    seen.add(("nightly-reconcile", "postgres", "sync"))
    return sorted(seen)


def topo_order() -> list[str]:
    """Services ordered callers before callees (the call graph is a DAG)."""
    graph: dict[str, set[str]] = {s.name: set() for s in SERVICES}
    for caller, callee, _ in edges():
        graph[caller].add(callee)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise ValueError(f"call graph has a cycle through {n}")
        state[n] = 1
        for m in sorted(graph[n]):
            visit(m)
        state[n] = 2
        order.append(n)

    for name in sorted(graph):
        visit(name)
    order.reverse()
    return order


@dataclass(frozen=True, slots=True)
class ConfigMapSpec:
    """A ConfigMap mounted by a service; its content hash rides on the pod template."""

    name: str
    service: str
    data: dict[str, str] = field(default_factory=dict)


CONFIGMAPS: tuple[ConfigMapSpec, ...] = (
    ConfigMapSpec("orders-flags", "orders", {
        "flags.yaml": "pricing.v2.enabled: false\nexport.async: true\n"
                      "orders.list.page-size: 20\n",
    }),
    ConfigMapSpec("frontend-config", "frontend", {
        "config.json": '{"recommendations":{"enabled":true},"cdnBase":'
                       '"https://cdn.shop.example.com"}',
    }),
    ConfigMapSpec("user-api-settings", "user-api", {
        "settings.toml": "[db]\npool_size = 10\nmax_overflow = 10\npool_timeout = 2.0\n",
    }),
    ConfigMapSpec("envoy-config", "api-gateway", {
        "envoy.yaml": "static_resources:\n  listeners:\n  - name: https\n",
    }),
)
