"""A scenario bundle with secrets and personal data planted in every signal.

The planted values follow the real formats (``corpus.GENERATORS``) and sit where
real ones leak: log messages and labels, a stack trace, span attributes, metric
labels, alert annotations, Kubernetes event messages. The bundle is a copy of a
generated scenario (metrics files linked, not copied) plus one planted file per
signal, all inside the incident window so default tool arguments reach them.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.security.corpus import GENERATORS

SERVICE = "checkout"
TRACE_ID = "ab" * 16
TRACE_ID_2 = "cd" * 16
SPAN_IDS = ("1111aaaa2222bbbb", "3333cccc4444dddd", "5555eeee6666ffff")
PLANTED_METRIC = "checkout_login_info"
ALERT_NAME = "PlantedCredentialLeak"


@dataclass(frozen=True)
class Planted:
    bundle: Path
    secrets: dict[str, str]  # kind -> value
    log_ts: str


def _secrets(seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    out = {kind: gen(rng) for kind, gen in GENERATORS.items()}
    out["password"] = "Pl4nted-Passw0rd-" + str(rng.randint(1000, 9999))
    out["db_password"] = "dbPw_" + "".join(rng.choice("abcdefXYZ0123") for _ in range(12))
    out["bearer"] = "tok_" + "".join(rng.choice("abcdefghijkLMNOP0123456789") for _ in range(28))
    return out


def plant(source: Path, dest: Path, seed: int = 5) -> Planted:
    """Copy ``source`` to ``dest`` and plant secrets; returns what was planted."""
    s = _secrets(seed)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("metrics"))
    (dest / "metrics").mkdir()
    for f in (source / "metrics").iterdir():
        (dest / "metrics" / f.name).symlink_to(f)
    window_end = "2026-03-10T15:00:00Z"
    assert window_end in (source / "bundle.toml").read_text()
    log_ts = "2026-03-10T14:50:00Z"

    # logs: messages, labels and a stack trace of the checkout service
    lines = [
        {"ts": log_ts, "service": SERVICE, "level": "error",
         "message": f"payment declined for {s['email']} card {s['card']} phone {s['phone']}",
         "user_email": s["email"], "pod": "checkout-gggtcjnmq-zhcdw", "namespace": "shop"},
        {"ts": "2026-03-10T14:50:01Z", "service": SERVICE, "level": "error",
         "message": (f"db connect failed: postgres://checkout:{s['db_password']}@pg.shop:5432/"
                     f"orders; retry with Authorization: Bearer {s['bearer']}"),
         "api_key": s["api_token"], "pod": "checkout-gggtcjnmq-zhcdw", "namespace": "shop"},
        {"ts": "2026-03-10T14:50:02Z", "service": SERVICE, "level": "error",
         "message": ("unhandled exception\nTraceback (most recent call last):\n"
                     '  File "/app/checkout/client.py", line 88, in post\n'
                     f"    raise AuthError('{s['github_token']} rejected')\n"
                     f"AuthError: token {s['github_token']} rejected (jwt {s['jwt']})"),
         "pod": "checkout-gggtcjnmq-zhcdw", "namespace": "shop"},
        {"ts": "2026-03-10T14:50:03Z", "service": SERVICE, "level": "warn",
         "message": (f"aws client configured key={s['aws_key']} password={s['password']} "
                     f"slack={s['slack_token']} gcp={s['gcp_key']} oauth={s['gcp_oauth']}"),
         "pod": "checkout-gggtcjnmq-zhcdw", "namespace": "shop"},
        {"ts": "2026-03-10T14:50:04Z", "service": SERVICE, "level": "error",
         "message": "tls material loaded: " + s["private_key"].replace("\n", "\\n"),
         "pod": "checkout-gggtcjnmq-zhcdw", "namespace": "shop"},
    ]
    (dest / "logs" / "planted.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines))

    # traces: a failing checkout trace whose attributes carry credentials and PII
    def attr(k: str, v: str) -> dict[str, object]:
        return {"key": k, "value": {"stringValue": v}}

    def span(trace: str, sid: str, parent: str, name: str, start: int,  # noqa: PLR0917
             attrs: list[object], error: bool) -> dict[str, object]:
        return {"traceId": trace, "spanId": sid, "parentSpanId": parent, "name": name,
                "kind": 2, "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 2_500_000_000), "attributes": attrs,
                "status": {"code": 2, "message": f"denied for {s['email']}"} if error else {}}

    t0 = 1773154200_000_000_000  # 2026-03-10T14:50:00Z
    spans = []
    for trace, off in ((TRACE_ID, 0), (TRACE_ID_2, 10_000_000_000)):
        spans += [
            span(trace, SPAN_IDS[0], "", "POST /checkout", t0 + off, [
                attr("url.full", f"https://checkout:{s['password']}@api.shop.example.com/pay"),
                attr("enduser.id", s["email"]), attr("http.request.header.authorization",
                                                      f"Bearer {s['bearer']}")], True),
            span(trace, SPAN_IDS[1], SPAN_IDS[0], "SELECT orders", t0 + off + 1000, [
                attr("db.statement", f"SELECT * FROM cards WHERE pan = '{s['card']}'"),
                attr("db.connection_string",
                     f"Host=pg;Username=checkout;Password={s['db_password']};")], True),
        ]
    otlp = {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", SERVICE),
                                    attr("service.namespace", "shop")]},
        "scopeSpans": [{"scope": {"name": "planted"}, "spans": spans}]}]}
    (dest / "traces" / "planted.otlp.json").write_text(json.dumps(otlp))

    # metrics: an info series whose labels hold an e-mail and a DSN with a password
    om = (f"# TYPE {PLANTED_METRIC} gauge\n"
          + "".join(
              f'{PLANTED_METRIC}{{service="{SERVICE}",user="{s["email"]}",'
              f'dsn="redis://default:{s["db_password"]}@cache:6379"}} 1 {ts}\n'
              for ts in range(1773154200 - 1800, 1773154200 + 600, 60))
          + "# EOF\n")
    (dest / "metrics" / "planted.om").write_text(om)

    # alerts: a firing alert whose annotations leak
    alerts = json.loads((source / "alerts" / "alertmanager.json").read_text())
    leak = dict(alerts[0])
    leak.update({
        "labels": {"alertname": ALERT_NAME, "service": SERVICE, "severity": "critical",
                   "namespace": "shop", "owner": s["email"]},
        "annotations": {
            "summary": f"credential for {s['email']} rejected",
            "description": (f"checkout cannot reach postgres://checkout:{s['db_password']}@pg"
                            f"/orders; on-call {s['phone']}; webhook token {s['slack_token']}"),
        },
        "fingerprint": "0123456789abcdef", "startsAt": "2026-03-10T14:40:00.000Z",
    })
    (dest / "alerts" / "planted.json").write_text(json.dumps([leak]))

    # Kubernetes: warning events on the checkout deployment
    events = {"apiVersion": "v1", "kind": "List", "items": [{
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"checkout.planted{i}", "namespace": "shop",
                     "uid": f"00000000-0000-0000-0000-00000000000{i}",
                     "creationTimestamp": f"2026-03-10T14:4{i}:00Z"},
        "involvedObject": {"kind": "Deployment", "namespace": "shop", "name": SERVICE,
                           "apiVersion": "apps/v1"},
        "reason": reason, "message": msg, "source": {"component": "kubelet"},
        "firstTimestamp": f"2026-03-10T14:4{i}:00Z", "lastTimestamp": f"2026-03-10T14:4{i}:00Z",
        "count": 1, "type": "Warning"}
        for i, (reason, msg) in enumerate([
            ("Failed", f"Failed to pull image: https://deploy:{s['password']}@registry.shop/"
                       f"checkout: unauthorized (contact {s['email']})"),
            ("Unhealthy", f"Liveness probe failed: GET /health with Authorization: Bearer "
                          f"{s['bearer']} returned 401; key {s['aws_key']}"),
        ])]}
    (dest / "k8s" / "planted-events.json").write_text(json.dumps(events))
    return Planted(dest, s, log_ts)
