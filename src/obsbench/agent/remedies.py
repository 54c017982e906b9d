"""Recommended actions per kind of root cause, filled in from the evidence.

Mitigate first (what stops the bleeding now), then verify, then prevent. The
commands name the real objects the evidence found (workload, revision,
namespace); nothing here is executed — writes stay behind confirmation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obsbench.agent.facts import Change, Facts
    from obsbench.agent.hypotheses import Verdict
    from obsbench.agent.model import RootCause


def _change(facts: Facts, service: str, v: Verdict) -> Change | None:
    if v.onset_ns is None:
        return None
    near = [c for c in facts.changes if c.workload == service]
    return min(near, key=lambda c: abs(c.time_ns - v.onset_ns), default=None)  # type: ignore[operator]


def actions_for(root: RootCause, facts: Facts, v: Verdict) -> list[tuple[str, list[str]]]:
    """(action, evidence ids) for the top root cause, most urgent first."""
    svc, kind = root.service, root.kind
    ev = root.evidence[:2]
    c = _change(facts, svc, v)
    ns = f" -n {c.namespace}" if c and c.namespace else ""
    out: list[tuple[str, list[str]]] = []
    if kind == "deploy" and c is not None:
        to = f" --to-revision={c.previous_revision}" if c.previous_revision else ""
        out.append((f"Roll back {svc} to its previous revision: `kubectl rollout undo "
                    f"deployment/{svc}{ns}{to}` (the change: {c.summary or c.cause})",
                    [c.evidence_id]))
        out.append((f"Watch {svc}'s error ratio and latency return to baseline after the "
                    "rollback", ev))
        out.append(("Add a canary step or an automated rollback on error-ratio SLO burn for "
                    f"{svc}'s rollouts", ev))
    elif kind == "config" and c is not None:
        out.append((f"Revert the configuration change of {svc} ({c.summary or c.cause}) and "
                    f"roll it out: `kubectl rollout undo deployment/{svc}{ns}`",
                    [c.evidence_id]))
        out.append(("Put feature flags behind a percentage rollout with error-ratio guards",
                    ev))
    elif kind == "cpu" and v.mode == "capacity":
        rec = _cpu_recommendation(facts, svc)
        if rec:
            out.append(rec)
        out.append((f"Re-check {svc}'s P95 usage and throttling a week after resizing", ev))
    elif kind == "cpu":
        if c is not None:
            out.append((f"Restore {svc}'s previous CPU limit (revision "
                        f"{c.previous_revision}): the change {c.summary or c.cause} by "
                        f"{c.who or 'unknown'} throttles it", [c.evidence_id]))
        else:
            out.append((f"Raise {svc}'s CPU limit (or remove it) so it stops being throttled",
                        ev))
        out.append(("Review the LimitRange/defaults that applied the new limit, and alert on "
                    "CPU throttling above 25% for latency-sensitive services", ev))
    elif kind == "memory":
        if svc.startswith("redis"):
            out.append((f"Free memory on {svc}: set TTLs on the keys that have none, or raise "
                        "maxmemory; watch evicted keys/s and the hit ratio recover", ev))
            out.append(("Alert on keys without TTL and on memory use before maxmemory is "
                        "reached", ev))
        else:
            out.append((f"Mitigate {svc}'s memory growth: restart its pods on a schedule or "
                        "raise the memory limit while the leak is found", ev))
            out.append((f"Take a heap profile of {svc} and find the unbounded structure; roll "
                        "back if a recent change introduced it", ev))
    elif kind == "database":
        out.append((f"Stop the blocking work of {svc} (cancel the job / "
                    "`SELECT pg_terminate_backend(pid)` for the lock holder) to release the "
                    "lock", ev))
        out.append((f"Make {svc} work in small batches without table locks, with "
                    "`lock_timeout`, outside peak hours", ev))
    elif kind == "disk":
        out.append((f"Free space on {svc}'s volume now (drop the inactive replication slot or "
                    "expand the volume), then restart it cleanly", ev))
        out.append(("Alert on inactive replication slots and on retained WAL; act on "
                    "KubePersistentVolumeFillingUp warnings", ev))
    elif kind == "certificate":
        out.append((f"Renew and deploy {svc}'s TLS certificate now; then fix the failing "
                    "automated renewal (cert-manager events)", ev))
        out.append(("Never silence certificate-expiry alerts without an owner and an end "
                    "date", ev))
    elif kind == "traffic":
        out.append((f"Raise {svc}'s HPA maximum and make sure nodes can be added "
                    "(cluster autoscaler), or shed load at the gateway", ev))
        out.append(("Announce marketing pushes to on-call and pre-scale before them", ev))
    elif kind == "network":
        out.append((f"Move {svc}'s pods off the node with the retransmissions: cordon and "
                    "drain it", ev))
        out.append(("Spread replicas across nodes (topology spread constraints) so one node "
                    "cannot slow every replica", ev))
    elif kind == "dependency":
        out.append((f"Contact {svc}'s provider (status page / support) and fail over or "
                    "degrade gracefully meanwhile", ev))
        out.append((f"Tighten timeouts and add a circuit breaker on calls to {svc}", ev))
    else:
        out.append((f"Look at {svc} first: its signals changed earliest", ev))
    return out


def _cpu_recommendation(facts: Facts, service: str) -> tuple[str, list[str]] | None:
    ev = facts.utilization.get(service)
    if ev is None:
        return None
    for container in ev.payload.get("containers") or []:
        rec = ((container.get("recommendation") or {}).get("cpu") or {})
        usage = ((container.get("usage") or {}).get("cpu_cores") or {})
        if rec.get("recommended_request"):
            p95 = usage.get("p95")
            return (f"Set {service}'s CPU request {rec.get('request')} -> "
                    f"{rec.get('recommended_request')} (P95 use "
                    f"{p95 * 1000:.0f}m + headroom); keep the limit "
                    f"{rec.get('recommended_limit')}" if p95 is not None else
                    f"Set {service}'s CPU request to {rec.get('recommended_request')}",
                    [ev.id])
    return None
