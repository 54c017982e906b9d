"""Probe configuration and recent probe failures of a service.

Probes cause incidents as often as they reveal them: a liveness probe on the same
endpoint as readiness restarts pods that are merely busy; a 1 s timeout fails under
load; no startup probe kills slow starters. ``probe_findings`` reads the template's
probes and names such risks; ``probe_failures`` groups the kubelet's ``Unhealthy``
and ``ProbeWarning`` events (and ``Killing`` after a failed liveness probe).
"""

from __future__ import annotations

import re
from typing import Any

from obsbench_servers.infra.k8s import KubeEvent
from obsbench_servers.infra.workloads import Workload

PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
_KIND = re.compile(r"(Liveness|Readiness|Startup) probe", re.I)


def describe_probe(p: dict[str, Any]) -> dict[str, Any]:
    if "httpGet" in p:
        h = p["httpGet"] or {}
        scheme = str(h.get("scheme", "HTTP")).lower()
        action = f"HTTP GET {scheme}://:{h.get('port')}{h.get('path', '/')}"
    elif "tcpSocket" in p:
        action = f"TCP :{(p['tcpSocket'] or {}).get('port')}"
    elif "grpc" in p:
        action = f"gRPC :{(p['grpc'] or {}).get('port')}"
    elif "exec" in p:
        action = "exec " + " ".join((p["exec"] or {}).get("command") or [])
    else:
        action = "unknown"
    period = p.get("periodSeconds", 10)
    failures = p.get("failureThreshold", 3)
    return {
        "action": action, "initial_delay_s": p.get("initialDelaySeconds", 0),
        "period_s": period, "timeout_s": p.get("timeoutSeconds", 1),
        "failure_threshold": failures, "success_threshold": p.get("successThreshold", 1),
        "seconds_to_fail": period * failures,
    }


def probe_config(w: Workload) -> list[dict[str, Any]]:
    out = []
    for c in w.containers:
        probes = {name: describe_probe(c[name]) for name in PROBES if isinstance(c.get(name), dict)}
        out.append({"container": c.get("name"), "probes": probes,
                    "findings": probe_findings(probes)})
    return out


def probe_findings(probes: dict[str, dict[str, Any]]) -> list[str]:
    findings = []
    live, ready = probes.get("livenessProbe"), probes.get("readinessProbe")
    start = probes.get("startupProbe")
    if ready is None:
        findings.append("no readiness probe: traffic reaches pods before they can serve")
    if live is None:
        findings.append("no liveness probe: a hung process is never restarted")
    if live and ready and live["action"] == ready["action"]:
        findings.append("liveness and readiness probe the same endpoint: a busy pod is "
                        "restarted instead of only taken out of rotation")
    for name, p in probes.items():
        if p["timeout_s"] <= 1 and p["action"].startswith(("HTTP", "gRPC", "exec")):
            findings.append(f"{name} timeout is {p['timeout_s']}s: it fails as soon as the "
                            "endpoint slows under load")
    if live and not start and live["initial_delay_s"] < 10:
        findings.append("liveness probe without a startup probe and a short initial delay: "
                        "slow starts get killed")
    return findings


def probe_failures(events: list[KubeEvent], w: Workload) -> dict[str, dict[str, Any]]:
    """Failures per probe kind: count, pods, first/last, and one message."""
    out: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e.last_ns or 0):
        if e.object_kind != "Pod" or not w.owns_object_name(e.object_name):
            continue
        failed = e.reason in ("Unhealthy", "ProbeWarning") or (
            e.reason == "Killing" and "probe" in e.message.lower())
        if not failed:
            continue
        m = _KIND.search(e.message)
        kind = (m.group(1).lower() if m else "unknown") + ("-restart" if e.reason == "Killing"
                                                           else "")
        entry = out.setdefault(kind, {"count": 0, "pods": [], "first_ns": e.first_ns,
                                      "last_ns": e.last_ns, "message": e.message})
        entry["count"] += e.count
        if e.object_name not in entry["pods"]:
            entry["pods"].append(e.object_name)
        entry["last_ns"], entry["message"] = e.last_ns, e.message
        if e.first_ns is not None and (entry["first_ns"] is None or e.first_ns < entry["first_ns"]):
            entry["first_ns"] = e.first_ns
    return out
