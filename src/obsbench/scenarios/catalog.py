"""The scenario catalog: twelve incidents with known root causes and red herrings.

Each scenario is data (name, one-line description, truth, the services where
symptoms show, a default anchor time) plus a builder that adds effects to the
``World``: the fault itself, the changes around it, and red herrings chosen so
that "blame the latest deploy" is wrong in several of them. Builders return
the red herrings they planted, described for the evaluator.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from obsbench.scenarios.timeline import Shape, rfc3339
from obsbench.scenarios.world import Change, World


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a builder knows: the onset, the window and a seeded stream for magnitudes."""

    onset: int
    start: int
    end: int
    rng: random.Random

    def jitter(self, lo: float = 0.9, hi: float = 1.1) -> float:
        return self.rng.uniform(lo, hi)

    def at(self, minutes: float) -> int:
        """``minutes`` after the onset (negative: before), whole seconds."""
        return int(self.onset + minutes * 60)

    def hhmm(self, ts: float) -> str:
        return rfc3339(ts)[11:16]


Builder = Callable[[World, Ctx], list[str]]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str  # one line; never names the root-cause service
    kind: str
    truth_service: str
    summary: str  # str.format with {onset}, {onset_hhmm}, {end_hhmm}
    contributing: tuple[str, ...]
    symptoms: tuple[str, ...]  # services where the symptoms show (never the truth service)
    incident: str  # what the on-call sees: the bundle's description
    anchor_end: str
    hours: float
    onset_before_end_min: float
    build: Builder
    onset_jitter_min: float = 6.0
    history_days: int = 0


# -- red herrings ----------------------------------------------------------------------------


def herring_deploy(w: World, c: Ctx, svc: str, minutes_before: float, version: str,  # noqa: PLR0917
                   cause: str, *, before_end: bool = False) -> str:
    """An unrelated rollout ``minutes_before`` the onset (or the window's end)."""
    ts = int(c.end - minutes_before * 60) if before_end else c.at(-minutes_before)
    w.add_change(Change(ts, svc, "image", version=version, change_cause=cause))
    ref = "the end of the window" if before_end else "onset"
    return (f"deploy {svc}: {version} rolled out at {rfc3339(ts)} "
            f"({minutes_before:.0f} min before {ref}; {cause}); unrelated to the incident")


def noisy_throttling(w: World) -> str:
    w.throttle_floor["notification"] = 0.33
    return ("alert CPUThrottlingHigh on notification: a steady ~30% CFS throttling of an async "
            "e-mail worker that has fired for days; harmless")


def flapping_backlog(w: World) -> str:
    w.backlog_flap = True
    return ("alert NightlyReconcileBacklogHigh flapping: the reconcile backlog gauge hovers "
            "around its threshold; harmless and unrelated")


def _std(w: World) -> list[str]:
    return [noisy_throttling(w), flapping_backlog(w)]


# -- builders --------------------------------------------------------------------------------


def bad_deploy_db_pool(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "frontend", 27, "4.12.1",
                               "deploy 4.12.1: checkout button A/B test")]
    w.add_change(Change(c.onset, "user-api", "image", version="2.3.1",
                        change_cause="deploy 2.3.1: preferences API v2 (PR #4821)",
                        user="argocd"))
    j = c.jitter()
    rollout = Shape(c.at(0.6), ramp=100)
    pool = Shape(c.at(1.5), ramp=200)
    users = "GET /v1/users/{id}"
    w.set_call("user-api", users, "SELECT user_preferences", rollout, count=24)
    w.add_slow("user-api", users, pool, 0.24 * j, 1500 * j, 0.35)
    w.add_slow("user-api", "GET /v1/session", pool, 0.05 * j, 1300 * j, 0.35)
    w.add_errors("user-api", users, pool, 0.05 * j, "500")
    w.add_errors("user-api", "GET /v1/session", pool, 0.006 * j, "500")
    w.set_exception("user-api", "*", "500", "sqlalchemy.exc.TimeoutError")
    w.add_pool_pressure("user-api", pool, 32 * j)
    w.add_cpu("user-api", rollout, 0.12)
    return herrings + _std(w)


def external_dependency(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "notification", 14, "1.4.4",
                               "deploy 1.4.4: e-mail template fixes")]
    j = c.jitter()
    slow = Shape(c.onset, ramp=300)
    w.add_slow("payment-gateway", None, slow, 0.55 * j, 2600 * j, 0.45)
    w.add_errors("payment-gateway", None, slow, 0.035 * j, "503")
    return herrings + _std(w)


def capacity(w: World, c: Ctx) -> list[str]:
    w.history_start = c.end - 30 * 86400
    herrings = [herring_deploy(w, c, "orders", 50, "5.4.2",
                               "deploy 5.4.2: order export pagination", before_end=True)]
    herrings.append("history: a short CPU burst on api-gateway during its last rollout; it "
                    "does not move the P95")
    return herrings + _std(w)


def batch_table_lock(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "orders", 42, "5.4.2",
                               "deploy 5.4.2: order export pagination")]
    herrings.append(noisy_throttling(w))
    lock_start = c.at(0.7)
    lock_end = c.at(150 * c.jitter(0.97, 1.03))
    w.lock = (lock_start, lock_end)
    w.batch_runs.append((c.onset, lock_end + 4, "Failed"))
    lock = Shape(lock_start, ramp=45, end=lock_end, fall=30)
    for op in ("INSERT orders", "UPDATE orders"):
        w.add_slow("postgres", op, lock, 0.97, 5000, 0.03)
        w.add_errors("postgres", op, lock, 0.96, "500")
    w.add_pool_pressure("orders", lock, 26)
    w.set_exception("orders", "POST /v1/orders", "500", "QueryTimeoutException")
    w.set_exception("orders", "GET /v1/orders", "500", "CannotCreateTransactionException")
    w.add_slow("orders", "GET /v1/orders", Shape(lock_start + 60, ramp=120, end=lock_end,
                                                  fall=60), 0.35, 2600, 0.3)
    w.add_errors("orders", "GET /v1/orders", Shape(lock_start + 60, ramp=120, end=lock_end,
                                                    fall=60), 0.2, "500")
    return herrings


def memory_leak(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "checkout", 15, "1.18.5",
                               "deploy 1.18.5: promo code validation message")]
    j = c.jitter()
    w.add_leak("inventory", Shape(c.onset), 12.0 * j, 220.0 * j)
    w.add_slow("inventory", None, Shape(c.at(22), ramp=900), 0.12, 110, 0.5)
    return herrings + _std(w)


def cpu_throttling(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "frontend", 35, "4.12.1",
                               "deploy 4.12.1: checkout button A/B test")]
    w.add_change(Change(c.onset, "checkout", "resources",
                        change_cause="chore(resources): apply namespace LimitRange defaults "
                                     "cpu 200m (PLAT-2291)",
                        cpu_request_m=200, cpu_limit_m=200, user="platform-bot"))
    w.add_cpu("checkout", Shape(c.onset, ramp=60), 0.03 * c.jitter())
    return herrings + _std(w)


def feature_flag(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "inventory", 12, "2.9.1",
                               "deploy 2.9.1: dependency bumps")]
    w.add_change(Change(c.onset, "orders", "config",
                        change_cause="config: enable pricing.v2 (FLAG-311)",
                        configmap="orders-flags",
                        config_data={"flags.yaml": "pricing.v2.enabled: true\nexport.async: "
                                                   "true\norders.list.page-size: 20\n"},
                        user="flagops"))
    j = c.jitter()
    bad = Shape(c.at(1.0), ramp=90)
    w.add_errors("orders", "POST /v1/orders", bad, 0.22 * j, "500")
    w.set_exception("orders", "POST /v1/orders", "500", "NullPointerException")
    w.add_slow("orders", "POST /v1/orders", bad, 0.05, 250, 0.4)
    return herrings + _std(w)


def cache_eviction(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "inventory", 18, "2.9.1",
                               "deploy 2.9.1: dependency bumps")]
    w.redis_full_at = c.onset
    j = c.jitter()
    storm = Shape(c.onset, ramp=240)
    w.set_call("user-api", "GET /v1/session", "SELECT sessions", storm, prob=0.55 * j)
    w.set_call("inventory", "GET /v1/stock/{sku}", "SELECT stock", storm, prob=0.5 * j)
    for op in ("GET session", "GET stock", "HGETALL cart", "DEL cart"):
        w.add_slow("redis", op, storm, 0.12, 18, 0.5)
    for op in ("SELECT sessions", "SELECT stock"):
        w.add_slow("postgres", op, storm, 0.25, 14, 0.5)
    w.add_cpu("redis", storm, 0.35)
    return herrings + _std(w)


def certificate_expiry(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "checkout", 20, "1.18.5",
                               "deploy 1.18.5: promo code validation message")]
    w.cert_expiry = float(c.onset)
    w.cert_silenced = True
    w.add_traffic(Shape(c.onset, ramp=45), 0.035)
    herrings.append("alert SSLCertExpiringSoon: firing for two weeks but silenced "
                    "('cert-manager will renew'); a contributing factor, not a separate cause")
    return herrings + _std(w)


def disk_full(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "payment", 10, "3.7.3",
                               "deploy 3.7.3: 3DS challenge copy change")]
    w.disk_full_at = float(c.onset)
    down = Shape(c.onset, ramp=20)
    w.add_errors("postgres", None, down, 0.92, "500")
    w.add_slow("postgres", None, down, 0.3, 900, 0.5)
    w.add_crash_loop("postgres", c.onset, 95.0, "Error", 1)
    for svc in ("orders", "payment"):
        w.set_exception(svc, "*", "500", "CannotCreateTransactionException")
    w.set_exception("user-api", "*", "500", "sqlalchemy.exc.OperationalError")
    return herrings + _std(w)


def traffic_surge(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "payment", 25, "3.7.3",
                               "deploy 3.7.3: 3DS challenge copy change")]
    j = c.jitter(0.95, 1.05)
    # A push notification links to the landing and product pages: browsing surges, buying
    # much less.
    w.add_traffic(Shape(c.onset, ramp=480), 3.6 * j,
                  routes={"GET /": 5.0 * j, "GET /product/{id}": 4.2 * j, "GET /account": 1.4,
                          "GET /cart": 1.6, "POST /checkout": 1.3})
    return herrings + _std(w)


def network_delay(w: World, c: Ctx) -> list[str]:
    herrings = [herring_deploy(w, c, "orders", 22, "5.4.2",
                               "deploy 5.4.2: order export pagination")]
    w.pinned_node["payment"] = 4
    j = c.jitter()
    w.add_delay("payment", Shape(c.onset, ramp=120), 320 * j, spike_weight=0.08,
                spike_ms=1050)
    return herrings + _std(w)


SCENARIO_LIST: tuple[Scenario, ...] = (
    Scenario(
        name="bad-deploy-db-pool",
        description="A deploy adds N+1 queries that exhaust a database connection pool",
        kind="deploy", truth_service="user-api",
        summary="user-api 2.3.1 (rolled out {onset_hhmm}) issues one SELECT per preference "
                "(N+1, ~24 queries per request); the SQLAlchemy pool (10+10 per pod) is "
                "exhausted, requests queue for connections and time out: p95 ~100 ms -> ~2 s, "
                "errors 0.1% -> ~5%, felt by frontend and api-gateway",
        contributing=("postgres",), symptoms=("frontend", "api-gateway", "postgres"),
        incident="Product and account pages slow and failing since the afternoon; "
                 "HighErrorRate is paging",
        anchor_end="2026-03-10T15:00:00Z", hours=4.0, onset_before_end_min=75,
        build=bad_deploy_db_pool,
    ),
    Scenario(
        name="external-dependency-slowdown",
        description="A third-party dependency degrades and slows checkout; no deploy involved",
        kind="dependency", truth_service="payment-gateway",
        summary="The external payment gateway (PSP) slowed down at {onset_hhmm} (p95 "
                "~0.4 s -> ~5 s, a few 503s); payment waits on it, so checkout and the "
                "frontend's POST /checkout slow down and some time out. Nothing was deployed "
                "in the checkout path",
        contributing=("payment",), symptoms=("checkout", "frontend", "payment"),
        incident="Checkout is slow; customers report payment confirmations taking ages",
        anchor_end="2026-03-12T11:30:00Z", hours=4.0, onset_before_end_min=70,
        build=external_dependency,
    ),
    Scenario(
        name="capacity-rightsizing",
        description="Capacity question: is a service's CPU request right-sized? 30 days of usage",
        kind="cpu", truth_service="api-gateway",
        summary="api-gateway requests 2000m CPU per pod (limit 4000m) but its P95 usage over "
                "30 days is 800m and it is never throttled: the request can go down to about "
                "1000m (P95 x 1.25 headroom), keeping the limit",
        contributing=(), symptoms=("frontend", "orders"),
        incident="Capacity review: are our CPU requests right? (30 days of usage history)",
        anchor_end="2026-03-16T12:00:00Z", hours=4.0, onset_before_end_min=30 * 24 * 60,
        build=capacity, onset_jitter_min=0.0, history_days=30,
    ),
    Scenario(
        name="batch-table-lock",
        description="A batch job's UPDATE without LIMIT holds a table lock for hours, "
                    "blocking writes",
        kind="database", truth_service="nightly-reconcile",
        summary="nightly-reconcile started at {onset_hhmm} and took a SHARE ROW EXCLUSIVE lock "
                "on orders, then ran one UPDATE over every unreconciled order (no LIMIT, no "
                "batching) for ~2.5 h; every INSERT/UPDATE on orders waited and hit the 5 s "
                "statement_timeout, orders' Hikari pool filled with blocked connections, and "
                "checkout failed to place orders until the job was terminated",
        contributing=("postgres", "orders"), symptoms=("orders", "checkout", "postgres"),
        incident="Order placement failing overnight; checkout errors and timeouts",
        anchor_end="2026-03-18T05:30:00Z", hours=5.0, onset_before_end_min=210,
        build=batch_table_lock, onset_jitter_min=0.0,
    ),
    Scenario(
        name="memory-leak-oom",
        description="A memory leak ends in OOMKilled containers and crash loops",
        kind="memory", truth_service="inventory",
        summary="From {onset_hhmm} inventory's in-process SKU cache grows without bound "
                "(~10 MiB/min per pod); pods hit the 512Mi limit, are OOMKilled, re-warm the "
                "cache and die again faster: CrashLoopBackOff, 503s for frontend and checkout",
        contributing=(), symptoms=("frontend", "checkout"),
        incident="Intermittent 503s on product and checkout pages; pods restarting",
        anchor_end="2026-03-20T16:00:00Z", hours=4.0, onset_before_end_min=85,
        build=memory_leak,
    ),
    Scenario(
        name="cpu-throttling",
        description="CPU throttling after a resource limits change",
        kind="cpu", truth_service="checkout",
        summary="At {onset_hhmm} a platform change applied LimitRange defaults to checkout "
                "(CPU request 250m -> 200m, limit 1000m -> 200m); the Go service is CFS "
                "throttled most periods and its latency rises several-fold, slowing cart and "
                "checkout pages",
        contributing=(), symptoms=("frontend", "api-gateway"),
        incident="Cart pages and order placement slower since early afternoon",
        anchor_end="2026-03-24T13:00:00Z", hours=4.0, onset_before_end_min=70,
        build=cpu_throttling,
    ),
    Scenario(
        name="feature-flag-config",
        description="A bad feature-flag change in a ConfigMap breaks one code path",
        kind="config", truth_service="orders",
        summary="At {onset_hhmm} orders-flags turned on pricing.v2; orders rolled out with the "
                "new config and PricingV2 throws NullPointerException for carts with gift "
                "cards (~20% of POST /v1/orders), failing those checkouts",
        contributing=(), symptoms=("checkout", "frontend"),
        incident="Some customers cannot complete checkout since the morning",
        anchor_end="2026-03-26T10:30:00Z", hours=4.0, onset_before_end_min=65,
        build=feature_flag,
    ),
    Scenario(
        name="cache-eviction-storm",
        description="A cache reaches maxmemory and an eviction storm shifts load to the database",
        kind="memory", truth_service="redis",
        summary="Redis reached maxmemory (2 GiB, allkeys-lru) at {onset_hhmm} because keys "
                "without TTL accumulated; it evicts thousands of hot keys per second, the hit "
                "ratio falls from ~0.95 to ~0.55, session and stock lookups fall through to "
                "postgres, and user-api, inventory and the pages using them slow down",
        contributing=("postgres",), symptoms=("user-api", "inventory", "postgres", "frontend"),
        incident="Site-wide latency increase during the evening peak",
        anchor_end="2026-03-27T19:00:00Z", hours=4.0, onset_before_end_min=60,
        build=cache_eviction,
    ),
    Scenario(
        name="certificate-expiry",
        description="An expired TLS certificate makes clients fail to connect",
        kind="certificate", truth_service="api-gateway",
        summary="The TLS certificate for api.shop.example.com expired at {onset_hhmm}: "
                "cert-manager's renewals had failed for two weeks (DNS-01 challenge) and the "
                "expiry warning was silenced; clients fail the TLS handshake, traffic "
                "collapses to ~4% and synthetic probes fail",
        contributing=(), symptoms=("frontend", "checkout", "user-api"),
        incident="Traffic dropped sharply; synthetic probes failing",
        anchor_end="2026-03-30T09:00:00Z", hours=4.0, onset_before_end_min=55,
        build=certificate_expiry,
    ),
    Scenario(
        name="disk-full",
        description="A stateful service's volume fills up",
        kind="disk", truth_service="postgres",
        summary="postgres' data volume (100 GiB) filled at {onset_hhmm}: WAL was retained for "
                "an inactive logical replication slot (analytics_cdc); postgres PANICs on WAL "
                "writes and crash-loops, so every database-backed call fails",
        contributing=(), symptoms=("user-api", "orders", "inventory", "payment", "frontend"),
        incident="Widespread 5xx errors; database-backed pages failing",
        anchor_end="2026-04-02T14:00:00Z", hours=4.0, onset_before_end_min=60,
        build=disk_full,
    ),
    Scenario(
        name="traffic-surge-hpa-max",
        description="A traffic surge with the autoscaler pinned at its maximum",
        kind="traffic", truth_service="frontend",
        summary="A flash-sale push notification at {onset_hhmm} brought ~3.6x traffic; the "
                "frontend HPA scaled 3 -> 6 and stayed at its maximum (one pod waited for a "
                "node), the single-threaded Node.js pods saturated their event loops: latency "
                "up, some 503s from the gateway",
        contributing=("api-gateway",), symptoms=("api-gateway", "user-api", "inventory"),
        incident="Evening traffic spike; pages slow and some 503s",
        anchor_end="2026-04-04T19:45:00Z", hours=4.0, onset_before_end_min=60,
        build=traffic_surge,
    ),
    Scenario(
        name="network-delay",
        description="Network delay between two services: client-side time grows, "
                    "server-side does not",
        kind="network", truth_service="payment",
        summary="From {onset_hhmm} the node hosting both payment pods drops packets on its "
                "network interface (bandwidth allowance exceeded); calls into payment see "
                "~300 ms more and occasional 1 s retransmission stalls on the client side "
                "(checkout), while payment's own server spans stay flat",
        contributing=("checkout",), symptoms=("checkout", "frontend"),
        incident="Checkout slower; calls to downstream services taking longer",
        anchor_end="2026-04-07T11:00:00Z", hours=4.0, onset_before_end_min=65,
        build=network_delay,
    ),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in SCENARIO_LIST}
