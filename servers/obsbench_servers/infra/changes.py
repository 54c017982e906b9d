"""What changed and when: rollouts from ReplicaSet revisions, and ConfigMap/Secret edits.

A Deployment keeps its rollout history as ReplicaSets, each annotated with its
``deployment.kubernetes.io/revision`` and, when the deployer set one,
``kubernetes.io/change-cause``. Diffing each revision's pod template against the
previous one says what the rollout changed: images, config hashes (the
``checksum/config`` pattern that makes a ConfigMap edit roll pods), resources,
environment variable *names*, probes. The time of a rollout is its ReplicaSet's
creation (a rollback re-uses an old ReplicaSet; then the ScalingReplicaSet event
gives the time). ConfigMap and Secret edits come from ``managedFields`` times;
Secret values are never read (the live backend lists them as metadata only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.common.budget import clip
from obsbench_servers.infra.k8s import (
    KubeEvent,
    annotations_of,
    created,
    last_modified,
    meta_of,
    name_of,
    namespace_of,
    owner,
    t,
)

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
_HASH_KEY = re.compile(r"checksum|hash|config-?version|restartedAt", re.I)
_CONTROLLERS = frozenset({"kube-controller-manager", "deployment-controller"})
PREVIEW_CHARS = 300


@dataclass
class Rollout:
    """One revision of a Deployment, compared with the revision before it."""

    ts_ns: int | None
    namespace: str
    workload: str
    revision: int | None
    previous_revision: int | None
    replicaset: str
    change_cause: str | None
    kinds: list[str]
    images: list[dict[str, str | None]] = field(default_factory=list)
    config_hashes: list[dict[str, str | None]] = field(default_factory=list)
    resources: list[dict[str, str | None]] = field(default_factory=list)
    env: list[dict[str, str]] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    who: str | None = None
    who_source: str | None = None
    current: bool = False
    replicas: int | None = None
    ready: int | None = None
    time_source: str = "replicaset creation"

    def summary(self) -> str:
        bits = []
        for i in self.images:
            bits.append(f"image {i['container']}: {_short(i['from'])} -> {_short(i['to'])}")
        for c in self.config_hashes:
            bits.append(f"{c['key']} {_h(c['from'])} -> {_h(c['to'])}")
        for r in self.resources:
            bits.append(f"{r['container']} {r['field']} {r['from'] or '-'} -> {r['to'] or '-'}")
        if self.env:
            bits.append("env " + ", ".join(f"{e['name']} {e['change']}" for e in self.env))
        if self.probes:
            bits.append("probes " + ", ".join(self.probes))
        if not bits and self.previous_revision is None:
            bits.append("oldest revision kept (nothing to compare with)")
        return "; ".join(bits) or "pod template unchanged"

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": t(self.ts_ns), "namespace": self.namespace, "workload": self.workload,
            "kind": "rollout", "change_kinds": self.kinds, "revision": self.revision,
            "previous_revision": self.previous_revision, "replicaset": self.replicaset,
            "change_cause": self.change_cause, "images": self.images,
            "config_hashes": self.config_hashes, "resources": self.resources, "env": self.env,
            "probes": self.probes, "who": self.who, "who_source": self.who_source,
            "current": self.current, "replicas": self.replicas, "ready": self.ready,
            "time_source": self.time_source, "summary": self.summary(),
        }


@dataclass
class ConfigEdit:
    """A ConfigMap or Secret written at a known time, and the workloads that use it."""

    ts_ns: int
    kind: str
    namespace: str
    name: str
    keys: list[str]
    who: str | None
    used_by: list[str]
    preview: dict[str, str] | None = None  # ConfigMaps only; never for Secrets
    used_by_source: str = "pod template references"

    def summary(self) -> str:
        used = f" (used by {', '.join(self.used_by)})" if self.used_by else ""
        keys = ", ".join(self.keys)
        return f"{self.kind} {self.namespace}/{self.name} updated, keys {keys}{used}"

    def to_dict(self) -> dict[str, Any]:
        return {"time": t(self.ts_ns), "kind": self.kind.lower(), "namespace": self.namespace,
                "name": self.name, "keys": self.keys, "who": self.who,
                "used_by": self.used_by, "used_by_source": self.used_by_source,
                "preview": self.preview, "summary": self.summary()}


def _short(image: str | None) -> str:
    if not image:
        return "-"
    return image.rsplit("/", 1)[-1]


def _h(value: str | None) -> str:
    return (value or "-")[:12]


def _template(rs: dict[str, Any]) -> dict[str, Any]:
    spec = rs.get("spec") or {}
    tpl = spec.get("template")
    return tpl if isinstance(tpl, dict) else {}


def _containers(tpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = tpl.get("spec") or {}
    return {str(c.get("name")): c for c in spec.get("containers") or () if isinstance(c, dict)}


def _revision(obj: dict[str, Any]) -> int | None:
    raw = annotations_of(obj).get(REVISION)
    return int(raw) if raw and str(raw).isdigit() else None


def diff_templates(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What differs between two pod templates (images, hashes, resources, env names, probes)."""
    out: dict[str, Any] = {"images": [], "config_hashes": [], "resources": [], "env": [],
                           "probes": []}
    oc, nc = _containers(old), _containers(new)
    for name in sorted(set(oc) | set(nc)):
        a, b = oc.get(name, {}), nc.get(name, {})
        if a.get("image") != b.get("image"):
            out["images"].append({"container": name, "from": a.get("image"),
                                  "to": b.get("image")})
        for kind in ("requests", "limits"):
            ra = (a.get("resources") or {}).get(kind) or {}
            rb = (b.get("resources") or {}).get(kind) or {}
            for res in sorted(set(ra) | set(rb)):
                if str(ra.get(res)) != str(rb.get(res)):
                    out["resources"].append({"container": name, "field": f"{kind}.{res}",
                                             "from": ra.get(res), "to": rb.get(res)})
        ea = {e.get("name"): e for e in a.get("env") or () if isinstance(e, dict)}
        eb = {e.get("name"): e for e in b.get("env") or () if isinstance(e, dict)}
        for var in sorted(set(ea) | set(eb), key=str):
            if var not in ea:
                out["env"].append({"container": name, "name": str(var), "change": "added"})
            elif var not in eb:
                out["env"].append({"container": name, "name": str(var), "change": "removed"})
            elif ea[var] != eb[var]:  # values are never reported: they may be secrets
                out["env"].append({"container": name, "name": str(var), "change": "changed"})
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if a.get(probe) != b.get(probe):
                out["probes"].append(f"{name}.{probe}")
    ann_a = (old.get("metadata") or {}).get("annotations") or {}
    ann_b = (new.get("metadata") or {}).get("annotations") or {}
    for key in sorted(set(ann_a) | set(ann_b)):
        if _HASH_KEY.search(key) and ann_a.get(key) != ann_b.get(key):
            out["config_hashes"].append({"key": key, "from": ann_a.get(key),
                                         "to": ann_b.get(key)})
    return out


def _kinds(d: dict[str, Any]) -> list[str]:
    kinds = []
    if d["images"]:
        kinds.append("image")
    if d["config_hashes"] or d["env"]:
        kinds.append("config")
    if d["resources"]:
        kinds.append("resources")
    if d["probes"]:
        kinds.append("probes")
    return kinds or ["rollout"]


def _who(deployment: dict[str, Any] | None, when: int | None) -> tuple[str | None, str | None]:
    """Who rolled out: the field manager that last wrote the Deployment near that time."""
    if deployment is None:
        return None, None
    best: tuple[int, str] | None = None
    for mf in meta_of(deployment).get("managedFields") or ():
        manager = mf.get("manager") if isinstance(mf, dict) else None
        if not manager or manager in _CONTROLLERS or mf.get("subresource") == "status":
            continue
        ts = created({"metadata": {"creationTimestamp": mf.get("time")}})
        if ts is not None and when is not None and abs(ts - when) <= 600 * 10**9 and (
                best is None or ts > best[0]):
            best = (ts, str(manager))
    if best:
        return best[1], "managedFields"
    ann = annotations_of(deployment)
    if any(k.startswith("argocd.argoproj.io/") for k in ann):
        return "argocd (GitOps sync)", "argocd annotation"
    if "meta.helm.sh/release-name" in ann:
        return f"helm release {ann['meta.helm.sh/release-name']}", "helm annotation"
    return None, None


def rollouts(replicasets: list[dict[str, Any]], workloads: list[dict[str, Any]],
             events: list[KubeEvent] | None = None) -> list[Rollout]:
    """Every revision of every Deployment in ``replicasets``, diffed with its predecessor."""
    deps = {(namespace_of(d), name_of(d)): d for d in workloads if d.get("kind") == "Deployment"}
    by_owner: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rs in replicasets:
        own = owner(rs)
        if own is None or own[0] != "Deployment":
            continue
        by_owner.setdefault((namespace_of(rs), own[1]), []).append(rs)
    scaled: dict[str, list[int]] = {}
    for e in events or ():
        if e.reason == "ScalingReplicaSet" and e.first_ns is not None:
            m = re.search(r"Scaled up replica set (\S+)", e.message)
            if m:
                scaled.setdefault(m.group(1), []).append(e.first_ns)
    out: list[Rollout] = []
    for (ns, dep_name), sets in by_owner.items():
        dep = deps.get((ns, dep_name))
        current_rev = _revision(dep) if dep else None
        sets.sort(key=lambda r: (_revision(r) or 0, created(r) or 0))
        prev: dict[str, Any] | None = None
        prev_ts: int | None = None
        for rs in sets:
            d = diff_templates(_template(prev), _template(rs)) if prev is not None else {
                "images": [], "config_hashes": [], "resources": [], "env": [], "probes": []}
            ts = created(rs)
            source = "replicaset creation"
            if prev_ts is not None and ts is not None and ts < prev_ts:
                # An older ReplicaSet brought back (rollback): its creation time is old.
                later = [x for x in scaled.get(name_of(rs), []) if x >= prev_ts]
                ts, source = (min(later), "ScalingReplicaSet event") if later else (
                    None, "unknown (rollback; no ScalingReplicaSet event)")
            rev = _revision(rs)
            who, who_source = _who(dep, ts)
            status = rs.get("status") or {}
            rollout = Rollout(
                ts_ns=ts, namespace=ns, workload=dep_name, revision=rev,
                previous_revision=_revision(prev) if prev is not None else None,
                replicaset=name_of(rs), change_cause=annotations_of(rs).get(CHANGE_CAUSE),
                kinds=_kinds(d) if prev is not None else ["rollout"],
                images=d["images"], config_hashes=d["config_hashes"], resources=d["resources"],
                env=d["env"], probes=d["probes"], who=who, who_source=who_source,
                current=rev is not None and rev == current_rev,
                replicas=(rs.get("spec") or {}).get("replicas"),
                ready=status.get("readyReplicas", 0), time_source=source,
            )
            if "rollback" not in rollout.kinds and source != "replicaset creation":
                rollout.kinds.append("rollback")
            out.append(rollout)
            prev, prev_ts = rs, ts if ts is not None else prev_ts
    return out


def _references(workload: dict[str, Any]) -> tuple[set[str], set[str]]:
    """ConfigMap and Secret names a workload's pod template uses."""
    cms: set[str] = set()
    secrets: set[str] = set()
    spec = _template(workload).get("spec") or {}
    for v in spec.get("volumes") or ():
        if not isinstance(v, dict):
            continue
        if (v.get("configMap") or {}).get("name"):
            cms.add(v["configMap"]["name"])
        if (v.get("secret") or {}).get("secretName"):
            secrets.add(v["secret"]["secretName"])
        for src in (v.get("projected") or {}).get("sources") or ():
            if (src.get("configMap") or {}).get("name"):
                cms.add(src["configMap"]["name"])
            if (src.get("secret") or {}).get("name"):
                secrets.add(src["secret"]["name"])
    for c in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        for ef in c.get("envFrom") or ():
            if (ef.get("configMapRef") or {}).get("name"):
                cms.add(ef["configMapRef"]["name"])
            if (ef.get("secretRef") or {}).get("name"):
                secrets.add(ef["secretRef"]["name"])
        for e in c.get("env") or ():
            ref = (e.get("valueFrom") or {}) if isinstance(e, dict) else {}
            if (ref.get("configMapKeyRef") or {}).get("name"):
                cms.add(ref["configMapKeyRef"]["name"])
            if (ref.get("secretKeyRef") or {}).get("name"):
                secrets.add(ref["secretKeyRef"]["name"])
    return cms, secrets


def config_edits(configmaps: list[dict[str, Any]], secrets: list[dict[str, Any]],
                 workloads: list[dict[str, Any]]) -> tuple[list[ConfigEdit], int]:
    """Edits with a known time, and how many objects record no modification time."""
    uses: dict[tuple[str, str, str], list[str]] = {}
    for w in workloads:
        cms, secs = _references(w)
        ns = namespace_of(w)
        for n in cms:
            uses.setdefault(("ConfigMap", ns, n), []).append(name_of(w))
        for n in secs:
            uses.setdefault(("Secret", ns, n), []).append(name_of(w))
    out: list[ConfigEdit] = []
    untimed = 0
    for kind, objs in (("ConfigMap", configmaps), ("Secret", secrets)):
        for obj in objs:
            ts, who = last_modified(obj)
            if ts is None:
                untimed += 1
                continue
            ns, name = namespace_of(obj), name_of(obj)
            used = sorted(set(uses.get((kind, ns, name), [])))
            source = "pod template references"
            app = (meta_of(obj).get("labels") or {}).get("app")
            if not used and app:  # no explicit reference (e.g. a sidecar reloads it): the label
                used, source = [str(app)], "label app"
            if kind == "ConfigMap":
                data = obj.get("data") or {}
                keys = sorted([*data, *(obj.get("binaryData") or {})])
                preview: dict[str, str] | None = {k: clip(str(v), PREVIEW_CHARS)
                                                  for k, v in data.items()}
            else:
                keys = list(obj.get("keys") or [])  # names only; values are never read
                preview = None
            out.append(ConfigEdit(ts, kind, ns, name, keys, who, used, preview, source))
    return out, untimed
