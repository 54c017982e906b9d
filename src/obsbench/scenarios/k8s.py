"""Kubernetes objects as ``kubectl get -A -o json`` writes them (List documents).

Deployments and their ReplicaSet history (revision, change-cause, pod-template
hash, image, resources, the ConfigMap checksum on the pod template), Pods with
container statuses (restart counts, ``lastState.terminated.reason`` OOMKilled,
``state.waiting.reason`` CrashLoopBackOff), core/v1 Events with
first/lastTimestamp and counts, autoscaling/v2 HPAs with their conditions,
ConfigMaps, StatefulSets, the CronJob and its Jobs, PVCs and the cert-manager
Certificate. The snapshot is taken at the window's end; events cover the window.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from obsbench.scenarios import rand
from obsbench.scenarios.sink import FileInfo, write_json
from obsbench.scenarios.timeline import rfc3339
from obsbench.scenarios.topology import CONFIGMAPS, DOMAIN, SERVICES, Service, service
from obsbench.scenarios.world import Pod, Revision, World


def _meta(w: World, kind: str, ns: str, name: str, created: float, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    meta["uid"] = rand.uid(w.name, w.seed, kind, ns, name)
    meta["resourceVersion"] = str(int(created) % 10_000_000 + 1_000_000)
    meta["creationTimestamp"] = rfc3339(created)
    meta.update(extra)
    return meta


def _labels(s: Service) -> dict[str, str]:
    return {"app": s.name, "app.kubernetes.io/name": s.name, "app.kubernetes.io/part-of": "shop",
            "team": s.team}


def _container(s: Service, rev: Revision) -> dict[str, Any]:
    probe_path = "/healthz" if s.kind not in ("database", "cache") else None
    c: dict[str, Any] = {
        "name": s.container_name,
        "image": s.image_ref(rev.version),
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": s.port, "name": "http" if s.port != 5432 else "postgresql",
                   "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": f"{rev.cpu_request_m}m", "memory": f"{rev.mem_request_mi}Mi"},
            "limits": {"cpu": f"{rev.cpu_limit_m}m", "memory": f"{rev.mem_limit_mi}Mi"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if probe_path:
        c["readinessProbe"] = {"httpGet": {"path": probe_path, "port": s.port, "scheme": "HTTP"},
                               "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3,
                               "successThreshold": 1}
        c["livenessProbe"] = {"httpGet": {"path": probe_path, "port": s.port, "scheme": "HTTP"},
                              "periodSeconds": 20, "timeoutSeconds": 2, "failureThreshold": 3,
                              "successThreshold": 1, "initialDelaySeconds": 15}
    elif s.name == "postgres":
        c["livenessProbe"] = {"exec": {"command": ["/bin/sh", "-c", "exec pg_isready -U postgres "
                                                   "-h 127.0.0.1 -p 5432"]},
                              "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6}
    if s.language == "go":
        c["env"] = [{"name": "GOMEMLIMIT", "value": f"{int(rev.mem_limit_mi * 0.9)}MiB"}]
    return c


def _template(s: Service, rev: Revision) -> dict[str, Any]:
    annotations = {"checksum/config": rev.config_hash}
    return {"metadata": {"labels": {**_labels(s), "app.kubernetes.io/version": rev.version},
                         "annotations": annotations},
            "spec": {"containers": [_container(s, rev)], "restartPolicy": "Always",
                     "serviceAccountName": s.name, "terminationGracePeriodSeconds": 30,
                     "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"}}


def _rs_name(s: Service, rev: Revision) -> str:
    return f"{s.name}-{rev.rs_hash}"


def _alive_at_end(w: World, pods: list[Pod]) -> list[Pod]:
    return [p for p in pods if p.alive(w.frame.end)]


def deployments(w: World) -> list[dict[str, Any]]:
    out = []
    end = w.frame.end
    for s in SERVICES:
        if s.workload != "Deployment":
            continue
        revs = w.revisions[s.name]
        cur = revs[-1]
        pods = _alive_at_end(w, w.pods[s.name])
        ready = sum(1 for p in pods if p.running(end))
        desired = w.hpa_desired.get(s.name, [s.replicas])[-1]
        gen = cur.number + 3
        conds = [
            {"type": "Available", "status": "True" if ready >= max(1, desired - 1) else "False",
             "lastUpdateTime": rfc3339(revs[0].ts), "lastTransitionTime": rfc3339(revs[0].ts),
             "reason": "MinimumReplicasAvailable" if ready >= max(1, desired - 1)
             else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if ready >= max(1, desired - 1)
             else "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": rfc3339(cur.ts + 70),
             "lastTransitionTime": rfc3339(revs[0].ts), "reason": "NewReplicaSetAvailable",
             "message": f'ReplicaSet "{_rs_name(s, cur)}" has successfully progressed.'},
        ]
        out.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta(w, "Deployment", s.namespace, s.name, revs[0].ts - 90 * 86400,
                              generation=gen, labels=_labels(s),
                              annotations={"deployment.kubernetes.io/revision": str(cur.number),
                                           "kubernetes.io/change-cause": cur.change_cause,
                                           "argocd.argoproj.io/tracking-id":
                                               f"shop:apps/Deployment:{s.namespace}/{s.name}"}),
            "spec": {"replicas": desired, "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600,
                     "selector": {"matchLabels": {"app": s.name}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": _template(s, cur)},
            "status": {"observedGeneration": gen, "replicas": len(pods),
                       "updatedReplicas": sum(1 for p in pods if p.revision == cur.number),
                       "readyReplicas": ready, "availableReplicas": ready,
                       **({"unavailableReplicas": len(pods) - ready} if len(pods) > ready else {}),
                       "conditions": conds},
        })
    return out


def replicasets(w: World) -> list[dict[str, Any]]:
    out = []
    end = w.frame.end
    for s in SERVICES:
        if s.workload != "Deployment":
            continue
        dep_uid = rand.uid(w.name, w.seed, "Deployment", s.namespace, s.name)
        revs = w.revisions[s.name]
        for rev in revs:
            current = rev is revs[-1]
            pods = [p for p in _alive_at_end(w, w.pods[s.name]) if p.revision == rev.number]
            ready = sum(1 for p in pods if p.running(end))
            replicas = w.hpa_desired.get(s.name, [s.replicas])[-1] if current else 0
            tmpl = _template(s, rev)
            tmpl["metadata"]["labels"]["pod-template-hash"] = rev.rs_hash
            out.append({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": _meta(
                    w, "ReplicaSet", s.namespace, _rs_name(s, rev), rev.ts,
                    generation=1 if not current else 2,
                    labels={**_labels(s), "pod-template-hash": rev.rs_hash},
                    annotations={"deployment.kubernetes.io/desired-replicas": str(s.replicas),
                                 "deployment.kubernetes.io/max-replicas":
                                     str(math.ceil(s.replicas * 1.25)),
                                 "deployment.kubernetes.io/revision": str(rev.number),
                                 "kubernetes.io/change-cause": rev.change_cause},
                    ownerReferences=[{"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": s.name, "uid": dep_uid, "controller": True,
                                      "blockOwnerDeletion": True}]),
                "spec": {"replicas": replicas,
                         "selector": {"matchLabels": {"app": s.name,
                                                      "pod-template-hash": rev.rs_hash}},
                         "template": tmpl},
                "status": {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                           "readyReplicas": ready, "availableReplicas": ready,
                           "observedGeneration": 1 if not current else 2},
            })
    return out


def statefulsets(w: World) -> list[dict[str, Any]]:
    out = []
    for s in SERVICES:
        if s.workload != "StatefulSet":
            continue
        name = "redis-master" if s.name == "redis" else s.name
        rev = w.revisions[s.name][-1]
        ready = w.n_ready[s.name][-1]
        tmpl = _template(s, rev)
        out.append({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": _meta(w, "StatefulSet", s.namespace, name, rev.ts - 200 * 86400,
                              generation=4, labels=_labels(s)),
            "spec": {"replicas": 1, "serviceName": name, "podManagementPolicy": "OrderedReady",
                     "selector": {"matchLabels": {"app": s.name}}, "template": tmpl,
                     "volumeClaimTemplates": [{"metadata": {"name": "data" if s.name == "postgres"
                                                            else "redis-data"},
                                               "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {
                                                            "storage": "100Gi" if s.name ==
                                                            "postgres" else "8Gi"}},
                                                        "storageClassName": "gp3"}}]},
            "status": {"observedGeneration": 4, "replicas": 1, "readyReplicas": ready,
                       "currentReplicas": 1, "updatedReplicas": 1,
                       "currentRevision": f"{name}-{rev.rs_hash}",
                       "updateRevision": f"{name}-{rev.rs_hash}", "availableReplicas": ready},
        })
    return out


def _owner(w: World, s: Service, pod: Pod) -> dict[str, Any]:
    if s.workload == "StatefulSet":
        name = "redis-master" if s.name == "redis" else s.name
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name,
                "uid": rand.uid(w.name, w.seed, "StatefulSet", s.namespace, name),
                "controller": True, "blockOwnerDeletion": True}
    if s.workload == "CronJob":
        job = pod.name.rsplit("-", 1)[0]
        return {"apiVersion": "batch/v1", "kind": "Job", "name": job,
                "uid": rand.uid(w.name, w.seed, "Job", s.namespace, job), "controller": True,
                "blockOwnerDeletion": True}
    name = f"{s.name}-{pod.rs_hash}"
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
            "uid": rand.uid(w.name, w.seed, "ReplicaSet", s.namespace, name), "controller": True,
            "blockOwnerDeletion": True}


def _cid(pod: Pod, n: int) -> str:
    return "containerd://" + rand.stable_hash(pod.uid, n, length=64)


def pods(w: World) -> list[dict[str, Any]]:
    out = []
    end = w.frame.end
    for s in SERVICES:
        for pod in w.pods.get(s.name, []):
            if not pod.alive(end):
                continue
            rev = next(r for r in w.revisions[s.name] if r.number == pod.revision)
            restarts = pod.restart_count(end)
            done = [r for r in pod.restarts if r.terminated <= end]
            running = pod.running(end)
            waiting = pod.waiting(end)
            image = s.image_ref(rev.version)
            status: dict[str, Any] = {
                "name": s.container_name, "image": image,
                "imageID": f"{image.rsplit(':', 1)[0]}@sha256:"
                           f"{rand.stable_hash(image, length=64)}",
                "restartCount": restarts, "started": running, "ready": running,
                "containerID": _cid(pod, restarts),
            }
            phase = "Running"
            if s.workload == "CronJob" and done:
                last = done[-1]
                status["state"] = {"terminated": {
                    "exitCode": last.exit_code, "reason": last.reason,
                    "startedAt": rfc3339(pod.created + 3), "finishedAt": rfc3339(last.terminated),
                    "containerID": _cid(pod, 0)}}
                status["started"] = False
                phase = "Succeeded" if last.exit_code == 0 else "Failed"
            elif waiting:
                last = done[-1]
                status["state"] = {"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {_backoff(pod, end)} restarting failed container="
                               f"{s.container_name} pod={pod.name}_{s.namespace}({pod.uid})"}}
            else:
                started = pod.container_start(end)
                status["state"] = {"running": {"startedAt": rfc3339(started + 1)}}
            if done and s.workload != "CronJob":
                last = done[-1]
                prev_start = pod.created if len(done) < 2 or done[-2].started is None \
                    else done[-2].started
                status["lastState"] = {"terminated": {
                    "exitCode": last.exit_code, "reason": last.reason,
                    "startedAt": rfc3339(prev_start + 1), "finishedAt": rfc3339(last.terminated),
                    "containerID": _cid(pod, restarts - 1)}}
            else:
                status.setdefault("lastState", {})
            ready = "True" if running else "False"
            conds = [
                {"type": "Initialized", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": rfc3339(pod.created + 1)},
                {"type": "Ready", "status": ready, "lastProbeTime": None,
                 "lastTransitionTime": rfc3339(pod.ready if running else
                                               (done[-1].terminated if done else pod.created))},
                {"type": "ContainersReady", "status": ready, "lastProbeTime": None,
                 "lastTransitionTime": rfc3339(pod.ready if running else
                                               (done[-1].terminated if done else pod.created))},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": rfc3339(pod.created)},
            ]
            labels = {**_labels(s)}
            if s.workload == "Deployment":
                labels["pod-template-hash"] = pod.rs_hash
            elif s.workload == "CronJob":
                labels["job-name"] = pod.name.rsplit("-", 1)[0]
            out.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": _meta(w, "Pod", s.namespace, pod.name, pod.created, labels=labels,
                                  annotations={"checksum/config": rev.config_hash},
                                  ownerReferences=[_owner(w, s, pod)]),
                "spec": {"nodeName": pod.node, "containers": [_container(s, rev)],
                         "restartPolicy": "OnFailure" if s.workload == "CronJob" else "Always",
                         "serviceAccountName": s.name, "schedulerName": "default-scheduler"},
                "status": {"phase": phase, "conditions": conds, "hostIP": pod.node_ip,
                           "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
                           "startTime": rfc3339(pod.created), "qosClass": "Burstable",
                           "containerStatuses": [status]},
            })
    return out


def _backoff(pod: Pod, ts: float) -> str:
    n = pod.restart_count(ts)
    secs = min(300, 10 * 2 ** max(0, n - 1))
    return f"{secs // 60}m{secs % 60}s" if secs >= 60 else f"{secs}s"


# -- events -----------------------------------------------------------------------------------


class _Events:
    def __init__(self, w: World) -> None:
        self.w = w
        self.items: list[dict[str, Any]] = []

    def add(  # noqa: PLR0917
            self, ns: str, kind: str, name: str, reason: str, message: str, first: float,
            last: float | None = None, count: int = 1, etype: str = "Normal",
            component: str = "kubelet", host: str = "", field_path: str = "",
            api_version: str = "v1") -> None:
        w = self.w
        if last is None:
            last = first
        involved: dict[str, Any] = {"kind": kind, "namespace": ns, "name": name,
                                    "uid": rand.uid(w.name, w.seed, kind, ns, name),
                                    "apiVersion": api_version}
        if field_path:
            involved["fieldPath"] = field_path
        ev_name = f"{name}.{rand.stable_hash(reason, message, first, length=16)}"
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        self.items.append({
            "apiVersion": "v1", "kind": "Event",
            "metadata": _meta(w, "Event", ns, ev_name, first),
            "involvedObject": involved, "reason": reason, "message": message,
            "source": source, "firstTimestamp": rfc3339(first), "lastTimestamp": rfc3339(last),
            "count": count, "type": etype, "eventTime": None,
            "reportingComponent": component, "reportingInstance": host,
        })


def events(w: World) -> list[dict[str, Any]]:
    ev = _Events(w)
    f = w.frame
    rng = w.rng("events")
    inside = lambda t: f.start <= t <= f.end  # noqa: E731
    for s in SERVICES:
        ns = s.namespace
        revs = w.revisions.get(s.name, [])
        for k, rev in enumerate(revs):
            if not inside(rev.ts) or s.workload != "Deployment":
                continue
            old = revs[k - 1]
            new_pods = sorted((p for p in w.pods[s.name] if p.revision == rev.number
                               and abs(p.created - rev.ts) < 600), key=lambda p: p.created)
            for n, p in enumerate(new_pods, 1):
                ev.add(ns, "Deployment", s.name, "ScalingReplicaSet",
                       f"Scaled up replica set {_rs_name(s, rev)} to {n}", p.created,
                       component="deployment-controller", api_version="apps/v1")
                ev.add(ns, "Deployment", s.name, "ScalingReplicaSet",
                       f"Scaled down replica set {_rs_name(s, old)} to {len(new_pods) - n}",
                       p.ready + 1, component="deployment-controller", api_version="apps/v1")
    for s in SERVICES:
        ns = s.namespace
        for pod in w.pods.get(s.name, []):
            rev = next(r for r in w.revisions[s.name] if r.number == pod.revision)
            image = s.image_ref(rev.version)
            if inside(pod.created):
                c = s.container_name
                ev.add(ns, "Pod", pod.name, "Scheduled", f"Successfully assigned {ns}/{pod.name} "
                       f"to {pod.node}", pod.created, component="default-scheduler")
                pull = rng.uniform(0.8, 6.5)
                ev.add(ns, "Pod", pod.name, "Pulling", f'Pulling image "{image}"',
                       pod.created + 1, host=pod.node, field_path=f"spec.containers{{{c}}}")
                ev.add(ns, "Pod", pod.name, "Pulled", f'Successfully pulled image "{image}" in '
                       f"{pull:.3f}s ({pull + 0.2:.3f}s including waiting)",
                       pod.created + 1 + pull, host=pod.node, field_path=f"spec.containers{{{c}}}")
                ev.add(ns, "Pod", pod.name, "Created", f"Created container {c}",
                       pod.created + 2 + pull, host=pod.node, field_path=f"spec.containers{{{c}}}")
                ev.add(ns, "Pod", pod.name, "Started", f"Started container {c}",
                       pod.created + 2.5 + pull, host=pod.node,
                       field_path=f"spec.containers{{{c}}}")
            if pod.deleted is not None and inside(pod.deleted):
                ev.add(ns, "Pod", pod.name, "Killing", f"Stopping container {s.container_name}",
                       pod.deleted - 1, host=pod.node,
                       field_path=f"spec.containers{{{s.container_name}}}")
            kills = [r for r in pod.restarts if inside(r.terminated) and r.started is not None]
            if kills:
                c = s.container_name
                for r in kills:
                    if r.reason == "OOMKilled":
                        ev.add("", "Node", pod.node, "OOMKilling", f"Memory cgroup out of memory: "
                               f"Killed process {rng.randint(3000, 90000)} ({s.name}) total-vm:"
                               f"{rng.randint(1_900_000, 2_400_000)}kB, anon-rss:"
                               f"{int(w.revision_at(s.name, pod.created).mem_limit_mi * 1024)}kB, "
                               "file-rss:0kB, shmem-rss:0kB, UID:65532 pgtables:1460kB "
                               "oom_score_adj:999", r.terminated, etype="Warning",
                               component="kernel-monitor", host=pod.node)
                    else:
                        ev.add(s.namespace, "Pod", pod.name, "Unhealthy", "Liveness probe failed: "
                               "127.0.0.1:5432 - no response", r.terminated - 20, count=3,
                               etype="Warning", host=pod.node, field_path=f"spec.containers{{{c}}}")
                        ev.add(s.namespace, "Pod", pod.name, "Killing", f"Container {c} failed "
                               "liveness probe, will be restarted", r.terminated, host=pod.node,
                               field_path=f"spec.containers{{{c}}}")
                first, last = kills[0].terminated, kills[-1].terminated
                ev.add(ns, "Pod", pod.name, "Pulled", f'Container image "{image}" already present '
                       "on machine", first + 1, last + 1, count=len(kills), host=pod.node,
                       field_path=f"spec.containers{{{c}}}")
                ev.add(ns, "Pod", pod.name, "Created", f"Created container {c}", first + 2,
                       last + 2, count=len(kills), host=pod.node,
                       field_path=f"spec.containers{{{c}}}")
                ev.add(ns, "Pod", pod.name, "Started", f"Started container {c}", first + 2.5,
                       last + 2.5, count=len(kills), host=pod.node,
                       field_path=f"spec.containers{{{c}}}")
                if len(kills) >= 2:
                    ev.add(ns, "Pod", pod.name, "BackOff", f"Back-off restarting failed container "
                           f"{c} in pod {pod.name}_{ns}({pod.uid})", kills[1].terminated + 1,
                           min(f.end, last + 200), count=4 * (len(kills) - 1), etype="Warning",
                           host=pod.node, field_path=f"spec.containers{{{c}}}")
    for t, svc_name, old_n, new_n, reason in w.hpa_events:
        if not inside(t):
            continue
        s = service(svc_name)
        ev.add(s.namespace, "HorizontalPodAutoscaler", s.name, "SuccessfulRescale",
               f"New size: {new_n}; reason: {reason}", t,
               component="horizontal-pod-autoscaler", api_version="autoscaling/v2")
        rs = _rs_name(s, w.revision_at(s.name, t))
        ev.add(s.namespace, "Deployment", s.name, "ScalingReplicaSet",
               f"Scaled {'up' if new_n > old_n else 'down'} replica set {rs} to {new_n}", t + 1,
               component="deployment-controller", api_version="apps/v1")
    for t, svc_name, pod_name in w.failed_scheduling:
        s = service(svc_name)
        ev.add(s.namespace, "Pod", pod_name, "FailedScheduling", "0/6 nodes are available: 6 "
               "Insufficient cpu. preemption: 0/6 nodes are available: 6 No preemption victims "
               "found for incoming pod.", t + 1, t + 120, count=5, etype="Warning",
               component="default-scheduler")
        ev.add(s.namespace, "Pod", pod_name, "TriggeredScaleUp", "pod triggered scale-up: "
               "[{eks-general-2024 6->7 (max: 12)}]", t + 12, component="cluster-autoscaler")
    _saturation_events(w, ev)
    _batch_events(w, ev)
    _cert_events(w, ev)
    # Background: the noisy e-mail worker's readiness probe times out now and then.
    for s in (service("notification"),):
        for pod in _alive_at_end(w, w.pods[s.name])[:1]:
            t = f.start + (f.end - f.start) * rng.uniform(0.1, 0.4)
            ev.add(s.namespace, "Pod", pod.name, "Unhealthy", "Readiness probe failed: Get "
                   f'"http://{pod.ip}:{s.port}/healthz": context deadline exceeded '
                   "(Client.Timeout exceeded while awaiting headers)", t, t + 5400, count=7,
                   etype="Warning", host=pod.node,
                   field_path=f"spec.containers{{{s.container_name}}}")
    ev.items.sort(key=lambda e: (e["lastTimestamp"], e["metadata"]["name"]))
    return ev.items


def _saturation_events(w: World, ev: _Events) -> None:
    """Readiness probes that time out on saturated or throttled pods."""
    f = w.frame
    for s in SERVICES:
        sat = w.saturation.get(s.name)
        thr = w.throttle.get(s.name)
        if sat is None or thr is None or s.name in w.throttle_floor:
            continue
        hot = [i for i in range(f.n) if sat[i] > 0.9 or thr[i] > 0.6]
        if len(hot) < 3:
            continue
        first, last = f.t(hot[0]), f.t(hot[-1])
        for pod in _alive_at_end(w, w.pods[s.name])[:3]:
            ev.add(s.namespace, "Pod", pod.name, "Unhealthy", "Readiness probe failed: Get "
                   f'"http://{pod.ip}:{s.port}/healthz": context deadline exceeded '
                   "(Client.Timeout exceeded while awaiting headers)", max(first, pod.created),
                   last, count=max(2, len(hot) // 2), etype="Warning", host=pod.node,
                   field_path=f"spec.containers{{{s.container_name}}}")


def _batch_events(w: World, ev: _Events) -> None:
    for pod in w.pods.get("nightly-reconcile", []):
        job = pod.name.rsplit("-", 1)[0]
        ev.add("batch", "CronJob", "nightly-reconcile", "SuccessfulCreate", f"Created job {job}",
               pod.created - 1, component="cronjob-controller", api_version="batch/v1")
        ev.add("batch", "Job", job, "SuccessfulCreate", f"Created pod: {pod.name}",
               pod.created - 0.5, component="job-controller", api_version="batch/v1")
        for r in pod.restarts:
            if r.exit_code:
                ev.add("batch", "Job", job, "BackoffLimitExceeded", "Job has reached the "
                       "specified backoff limit", r.terminated + 2, etype="Warning",
                       component="job-controller", api_version="batch/v1")


def _cert_events(w: World, ev: _Events) -> None:
    if w.cert_expiry > w.frame.end:
        return
    first = w.cert_expiry - 15 * 86400
    ev.add("edge", "Certificate", "api-shop-tls", "Issuing", "Renewing certificate as renewal "
           f"was scheduled at {rfc3339(first)}", first,
           component="cert-manager-certificates-trigger",
           api_version="cert-manager.io/v1")
    ev.add("edge", "Certificate", "api-shop-tls", "Failed", "The certificate request has failed "
           "to complete and will be retried: Failed to wait for order resource "
           '"api-shop-tls-8kq2v-2918447155" to become ready: order is in "errored" state: Failed '
           "to finalize Order: 403 urn:ietf:params:acme:error:unauthorized: DNS problem: NXDOMAIN "
           "looking up TXT for _acme-challenge.api.shop.example.com", first + 300,
           w.frame.end - 900, count=137, etype="Warning",
           component="cert-manager-certificates-issuing", api_version="cert-manager.io/v1")


# -- other kinds ------------------------------------------------------------------------------


def hpas(w: World) -> list[dict[str, Any]]:
    out = []
    end = w.frame.end
    for s in SERVICES:
        if s.hpa is None:
            continue
        desired = w.hpa_desired[s.name][-1]
        current = sum(1 for p in w.pods[s.name] if p.alive(end))
        rev = w.revision_at(s.name, end)
        util = round(w.cpu_usage(s.name, w.frame.n - 1) / (rev.cpu_request_m / 1000) * 100)
        at_max = desired >= s.hpa.max_replicas and util > s.hpa.target_cpu_pct
        last_scale = max((t for t, n, *_ in w.hpa_events if n == s.name), default=end - 86400 * 2)
        out.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(w, "HorizontalPodAutoscaler", s.namespace, s.name,
                              end - 120 * 86400, labels=_labels(s)),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": s.name},
                     "minReplicas": s.hpa.min_replicas, "maxReplicas": s.hpa.max_replicas,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization",
                                                   "averageUtilization": s.hpa.target_cpu_pct}}}]},
            "status": {
                "currentReplicas": current, "desiredReplicas": desired,
                "lastScaleTime": rfc3339(last_scale),
                "currentMetrics": [{"type": "Resource", "resource": {
                    "name": "cpu", "current": {
                        "averageUtilization": util,
                        "averageValue": f"{int(util * rev.cpu_request_m / 100)}m"}}}],
                "conditions": [
                    {"type": "AbleToScale", "status": "True",
                     "lastTransitionTime": rfc3339(last_scale), "reason": "ReadyForNewScale",
                     "message": "recommended size matches current size"},
                    {"type": "ScalingActive", "status": "True",
                     "lastTransitionTime": rfc3339(end - 120 * 86400), "reason": "ValidMetricFound",
                     "message": "the HPA was able to successfully calculate a replica count from "
                                "cpu resource utilization (percentage of request)"},
                    {"type": "ScalingLimited", "status": "True" if at_max else "False",
                     "lastTransitionTime": rfc3339(last_scale),
                     "reason": "TooManyReplicas" if at_max else "DesiredWithinRange",
                     "message": "the desired replica count is more than the maximum replica "
                                "count" if at_max else "the desired count is within the "
                                "acceptable range"},
                ]},
        })
    return out


def configmaps(w: World) -> list[dict[str, Any]]:
    out = []
    for cm in CONFIGMAPS:
        s = service(cm.service)
        data = dict(cm.data)
        updated = float(w.frame.start - 30 * 86400)
        for ch in sorted(w.changes, key=lambda c: c.ts):
            if ch.kind == "config" and ch.configmap == cm.name:
                data.update(ch.config_data)
                updated = ch.ts
        meta = _meta(w, "ConfigMap", s.namespace, cm.name, w.frame.start - 200 * 86400,
                     labels={"app": s.name},
                     annotations={"obsbench/last-updated": rfc3339(updated)})
        meta["resourceVersion"] = str(int(updated) % 10_000_000 + 1_000_000)
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return out


def cronjobs(w: World) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    s = service("nightly-reconcile")
    rev = w.revisions[s.name][0]
    runs = w.pods.get(s.name, [])
    sched_t = runs[0].created if runs else w.frame.start - 3600
    hour, minute = int(rfc3339(sched_t)[11:13]), int(rfc3339(sched_t)[14:16])
    last_sched = sched_t if runs else w.frame.start - 8 * 3600
    cron = {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": _meta(w, "CronJob", "batch", s.name, w.frame.start - 300 * 86400,
                          labels=_labels(s)),
        "spec": {"schedule": f"{minute} {hour} * * *", "concurrencyPolicy": "Forbid",
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1, "suspend": False,
                 "jobTemplate": {"spec": {"backoffLimit": 0, "activeDeadlineSeconds": 21600,
                                          "template": {"spec": {
                                              "containers": [_container(s, rev)],
                                              "restartPolicy": "Never"}}}}},
        "status": {"lastScheduleTime": rfc3339(last_sched),
                   "lastSuccessfulTime": rfc3339(last_sched - 86400 + 27 * 60)},
    }
    jobs = []
    for pod in runs:
        job = pod.name.rsplit("-", 1)[0]
        done = pod.restarts[0] if pod.restarts and pod.restarts[0].terminated <= w.frame.end \
            else None
        status: dict[str, Any] = {"startTime": rfc3339(pod.created - 0.5)}
        if done is None:
            status["active"] = 1
        elif done.exit_code:
            status["failed"] = 1
            status["conditions"] = [{"type": "Failed", "status": "True",
                                     "lastProbeTime": rfc3339(done.terminated + 2),
                                     "lastTransitionTime": rfc3339(done.terminated + 2),
                                     "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit"}]
        else:
            status["succeeded"] = 1
            status["completionTime"] = rfc3339(done.terminated + 1)
        jobs.append({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": _meta(w, "Job", "batch", job, pod.created - 1,
                              labels={**_labels(s), "job-name": job},
                              ownerReferences=[{"apiVersion": "batch/v1", "kind": "CronJob",
                                                "name": s.name, "uid": rand.uid(
                                                    w.name, w.seed, "CronJob", "batch", s.name),
                                                "controller": True,
                                                "blockOwnerDeletion": True}]),
            "spec": {"backoffLimit": 0, "completions": 1, "parallelism": 1,
                     "template": {"spec": {"containers": [_container(s, rev)],
                                           "restartPolicy": "Never"}}},
            "status": status,
        })
    return [cron], jobs


def pvcs(w: World) -> list[dict[str, Any]]:
    out = []
    for name, size, pod in (("data-postgres-0", "100Gi", "postgres-0"),
                            ("redis-data-redis-master-0", "8Gi", "redis-master-0")):
        out.append({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(w, "PersistentVolumeClaim", "data", name,
                              w.frame.start - 400 * 86400, labels={"app": pod.rsplit("-", 1)[0]}),
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                     "resources": {"requests": {"storage": size}},
                     "volumeName": f"pvc-{rand.uid(w.name, name)}"},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                       "capacity": {"storage": size}},
        })
    return out


def certificates(w: World) -> list[dict[str, Any]]:
    expired = w.cert_expiry <= w.frame.end
    not_after = w.cert_expiry
    return [{
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": _meta(w, "Certificate", "edge", "api-shop-tls", w.frame.start - 500 * 86400),
        "spec": {"secretName": "api-shop-tls", "dnsNames": [DOMAIN],
                 "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt-dns01"},
                 "renewBefore": "360h"},
        "status": {
            "notBefore": rfc3339(not_after - 90 * 86400), "notAfter": rfc3339(not_after),
            "renewalTime": rfc3339(not_after - 15 * 86400),
            "conditions": [{"type": "Ready", "status": "False" if expired else "True",
                            "lastTransitionTime": rfc3339(not_after if expired
                                                          else not_after - 89 * 86400),
                            "reason": "Expired" if expired else "Ready",
                            "message": f"Certificate expired on {rfc3339(not_after)}" if expired
                            else "Certificate is up to date and has not expired",
                            "observedGeneration": 3}],
            **({"failedIssuanceAttempts": 14} if expired else {}),
        },
    }]


def write_all(w: World, root: Path, gz: bool) -> list[FileInfo]:
    cron, jobs = cronjobs(w)
    lists = (
        ("deployments", deployments(w)), ("replicasets", replicasets(w)),
        ("statefulsets", statefulsets(w)), ("pods", pods(w)), ("events", events(w)),
        ("horizontalpodautoscalers", hpas(w)), ("configmaps", configmaps(w)),
        ("cronjobs", cron), ("jobs", jobs), ("persistentvolumeclaims", pvcs(w)),
        ("certificates", certificates(w)),
    )
    files = []
    for name, items in lists:
        doc = {"apiVersion": "v1", "kind": "List", "items": items,
               "metadata": {"resourceVersion": ""}}
        files.append(write_json(root, f"k8s/{name}.json", "k8s", "kubernetes", doc, len(items),
                                gz=gz))
    return files

