"""Reading Kubernetes objects: quantities, label selectors, events, pod and container state.

Both infra backends hand the server raw objects exactly as the API (or ``kubectl get
-o json``) returns them; everything that interprets them lives here, once.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.timeutil import TimeParseError, ns_to_rfc3339, parse_rfc3339_ns

# ---------------------------------------------------------------------------- quantities

_CPU_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}
_MEM_SUFFIX = {
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6,
    "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "": 1.0,
}
_QUANTITY = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_cpu(value: Any) -> float | None:
    """A CPU quantity (``"250m"``, ``"2"``, ``"9559630n"``) in cores; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value))
    if not m or m.group(2) not in _CPU_SUFFIX:
        return None
    return float(m.group(1)) * _CPU_SUFFIX[m.group(2)]


def parse_memory(value: Any) -> float | None:
    """A memory quantity (``"512Mi"``, ``"4Gi"``, ``"1e9"``) in bytes; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value))
    if not m or m.group(2) not in _MEM_SUFFIX:
        return None
    return float(m.group(1)) * _MEM_SUFFIX[m.group(2)]


def format_cpu(cores: float | None) -> str:
    if cores is None:
        return "-"
    return f"{round(cores * 1000):d}m"


def format_memory(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}".replace(".0" + unit, unit)
    return f"{n:.0f}"


# ---------------------------------------------------------------------------- times


def k8s_time(value: Any) -> int | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_rfc3339_ns(value)
    except TimeParseError:
        return None


def t(ns: int | None) -> str | None:
    return ns_to_rfc3339(ns) if ns is not None else None


def created(obj: dict[str, Any]) -> int | None:
    return k8s_time((obj.get("metadata") or {}).get("creationTimestamp"))


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (API objects omit fields)."""
    return value if isinstance(value, dict) else {}


def meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def name_of(obj: dict[str, Any]) -> str:
    return str(meta_of(obj).get("name", ""))


def namespace_of(obj: dict[str, Any]) -> str:
    return str(meta_of(obj).get("namespace") or "")


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    a = meta_of(obj).get("annotations")
    return a if isinstance(a, dict) else {}


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    lab = meta_of(obj).get("labels")
    return lab if isinstance(lab, dict) else {}


def owner(obj: dict[str, Any]) -> tuple[str, str] | None:
    refs = [r for r in meta_of(obj).get("ownerReferences") or () if isinstance(r, dict)]
    ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    return (str(ref.get("kind")), str(ref.get("name"))) if ref else None


def last_modified(obj: dict[str, Any]) -> tuple[int | None, str | None]:
    """When an object was last written, and by which manager, from what the object records.

    ``managedFields[].time`` (server-side field management, every object since 1.18) is
    the authoritative source; some exports strip it, so an annotation naming the last
    update (``*last-updated*``, ``*last-modified*``, ``*updated-at*``) is read too.
    """
    best: tuple[int | None, str | None] = (None, None)
    for mf in meta_of(obj).get("managedFields") or ():
        if not isinstance(mf, dict):
            continue
        ts = k8s_time(mf.get("time"))
        if ts is not None and (best[0] is None or ts > best[0]):
            best = (ts, mf.get("manager"))
    if best[0] is not None:
        return best
    for key, value in annotations_of(obj).items():
        if re.search(r"last[-_.]?(updated|modified|applied)|updated[-_.]?at", key, re.I):
            ts = k8s_time(value)
            if ts is not None:
                return ts, None
    return None, None


# ---------------------------------------------------------------------------- selectors


_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def selector_string(selector: dict[str, Any] | None) -> str:
    """A LabelSelector object as the ``labelSelector`` query string the API takes."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or ():
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _split_selector(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def selector_matches(selector: str, obj_labels: dict[str, str]) -> bool:
    """Evaluate a label selector string (``a=b,c!=d,e in (x,y),f,!g``) on a label set."""
    for term in _split_selector(selector or ""):
        m = _SET.match(term)
        if m:
            key, op, raw = m.groups()
            values = {v.strip() for v in raw.split(",") if v.strip()}
            inside = obj_labels.get(key) in values
            if inside != (op == "in"):
                return False
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            if obj_labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if obj_labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in obj_labels:
                return False
        elif term not in obj_labels:
            return False
    return True


# ---------------------------------------------------------------------------- events


@dataclass
class KubeEvent:
    """A core/v1 or events.k8s.io/v1 Event, flattened the same way for every backend."""

    namespace: str
    name: str
    type: str
    reason: str
    message: str
    object_kind: str
    object_name: str
    first_ns: int | None
    last_ns: int | None
    count: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["first"] = t(d.pop("first_ns"))
        d["last"] = t(d.pop("last_ns"))
        return d


def event_from_object(e: dict[str, Any]) -> KubeEvent:
    """Flatten either Event API version (the times each version uses, count, reporter)."""
    m = meta_of(e)
    series = as_dict(e.get("series"))
    if "regarding" in e or "note" in e or "deprecatedCount" in e:
        about = e.get("regarding") or {}
        message = e.get("note") or ""
        first = k8s_time(e.get("eventTime")) or k8s_time(e.get("deprecatedFirstTimestamp"))
        last = k8s_time(series.get("lastObservedTime")) or k8s_time(
            e.get("deprecatedLastTimestamp"))
        count = series.get("count") or e.get("deprecatedCount") or 1
        source = e.get("reportingController") or (e.get("deprecatedSource") or {}).get(
            "component") or ""
    else:
        about = e.get("involvedObject") or {}
        message = e.get("message") or ""
        first = k8s_time(e.get("firstTimestamp")) or k8s_time(e.get("eventTime"))
        last = k8s_time(e.get("lastTimestamp")) or k8s_time(series.get("lastObservedTime"))
        count = e.get("count") or series.get("count") or 1
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
    first = first or created(e)
    return KubeEvent(
        namespace=str(m.get("namespace") or about.get("namespace") or ""),
        name=str(m.get("name", "")), type=str(e.get("type") or "Normal"),
        reason=str(e.get("reason") or ""), message=str(message),
        object_kind=str(about.get("kind") or ""), object_name=str(about.get("name") or ""),
        first_ns=first, last_ns=last or first,
        count=int(count) if isinstance(count, (int, float)) else 1, source=str(source),
    )


def event_in_window(e: KubeEvent, start_ns: int, end_ns: int) -> bool:
    first = e.first_ns if e.first_ns is not None else e.last_ns
    last = e.last_ns if e.last_ns is not None else first
    if first is None or last is None:
        return False
    return last >= start_ns and first < end_ns


# ---------------------------------------------------------------------------- pods


def container_state(status: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """``(state, reason, message)`` of a containerStatus: running / waiting / terminated."""
    state = as_dict(status.get("state"))
    for key in ("waiting", "terminated", "running"):
        if isinstance(state.get(key), dict):
            detail = state[key]
            return key, detail.get("reason"), detail.get("message")
    return "unknown", None, None


def last_termination(status: dict[str, Any]) -> dict[str, Any] | None:
    last = as_dict(status.get("lastState"))
    term = last.get("terminated")
    if not isinstance(term, dict):
        return None
    return {"reason": term.get("reason"), "exit_code": term.get("exitCode"),
            "started_at": term.get("startedAt"), "finished_at": term.get("finishedAt"),
            "message": term.get("message")}


def pod_summary(pod: dict[str, Any]) -> dict[str, Any]:
    """What matters about a pod in an incident: phase, readiness, restarts, why it last died."""
    spec = as_dict(pod.get("spec"))
    status = as_dict(pod.get("status"))
    statuses = [s for s in status.get("containerStatuses") or () if isinstance(s, dict)]
    images = {c.get("name"): c.get("image") for c in spec.get("containers") or ()
              if isinstance(c, dict)}
    containers: list[dict[str, Any]] = []
    for s in statuses:
        state, reason, message = container_state(s)
        containers.append({
            "name": s.get("name"), "image": s.get("image") or images.get(s.get("name")),
            "ready": bool(s.get("ready")), "restarts": int(s.get("restartCount") or 0),
            "state": state, "reason": reason, "message": message,
            "last_termination": last_termination(s),
        })
    if not containers:
        containers = [{"name": n, "image": i, "ready": False, "restarts": 0, "state": "unknown",
                       "reason": None, "message": None, "last_termination": None}
                      for n, i in images.items()]
    conditions = {c.get("type"): c for c in status.get("conditions") or () if isinstance(c, dict)}
    not_ready = [
        {"type": k, "reason": c.get("reason"), "message": c.get("message"),
         "since": c.get("lastTransitionTime")}
        for k, c in conditions.items() if c.get("status") != "True"
    ]
    return {
        "name": name_of(pod),
        "namespace": namespace_of(pod),
        "phase": status.get("phase"),
        "reason": status.get("reason"),
        "node": spec.get("nodeName"),
        "ready": f"{sum(1 for c in containers if c['ready'])}/{len(containers)}",
        "restarts": sum(c["restarts"] for c in containers),
        "started_at": status.get("startTime"),
        "template_hash": labels_of(pod).get("pod-template-hash"),
        "containers": containers,
        "conditions_not_true": not_ready,
    }


def pod_problem(summary: dict[str, Any]) -> str | None:
    """The one-phrase problem of a pod (``CrashLoopBackOff, last OOMKilled (exit 137)``)."""
    bits = []
    for c in summary["containers"]:
        if c["state"] == "waiting" and c["reason"]:
            bits.append(str(c["reason"]))
        elif c["state"] == "terminated" and c["reason"]:
            bits.append(f"terminated {c['reason']}")
        last = c.get("last_termination")
        if last and last.get("reason"):
            bits.append(f"last {last['reason']} (exit {last.get('exit_code')})")
    if summary.get("phase") not in ("Running", "Succeeded") and summary.get("phase"):
        bits.insert(0, str(summary["phase"]))
    return ", ".join(dict.fromkeys(bits)) or None


def check_name(value: str, what: str) -> str:
    """A Kubernetes object name or namespace from a model: DNS-1123 only, never a path."""
    v = (value or "").strip()
    if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", v):
        raise BadInputError(f"{value!r} is not a valid Kubernetes {what}",
                            f"a {what} is lower-case letters, digits, '-' and '.'")
    return v
