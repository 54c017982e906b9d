"""A Kubernetes API server as an ``httpx.MockTransport``, built from upstream objects.

The objects are the upstream ones in ../shared/fixtures/kubernetes (k9s's captures of
a real cluster: Deployment ``icx/icx-db``, its ReplicaSet, a Pod, an Event; read in
place). What upstream lacks is derived here and says so: the List envelopes (items
without kind/apiVersion, as the API server serves them; ``metadata.continue`` for
pagination), a second ReplicaSet revision (the first with a newer image), two pods of
the Deployment made from the nginx pod — one crash-looping after an OOM kill
(``data/containerstatus_crashloop_oomkilled.json``), one running —, a Warning event
derived from the captured one, a ConfigMap and a Secret in the documented shapes, and
PodMetrics for the two pods in the shape of the kubernetes.io sample.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

DATA = Path(__file__).parent / "data"
TOKEN = "k8s-Tok3n-never-shown"
NS = "icx"
SECRET_VALUE = "aHVudGVyMg=="  # base64 of a password: must never leave the backend


def _load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out.pop("kind", None)
    out.pop("apiVersion", None)
    return out


@dataclass
class FakeCluster:
    fixtures: Path
    forbidden: set[str] = field(default_factory=set)  # paths answered 403
    unauthorized: bool = False
    page_size: int = 0  # >0: paginate pod lists
    requests: list[httpx.Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        k9s = self.fixtures / "kubernetes" / "k9s_captured_objects"
        self.deployment = _load(k9s / "dp.json")
        rs1 = _load(k9s / "rs.json")
        rs1["apiVersion"] = "apps/v1"  # k9s edited it to networking.k8s.io/v1 (PROVENANCE.md)
        rs2 = copy.deepcopy(rs1)
        rs2["metadata"].update(name="icx-db-5f8c9d7b6c", creationTimestamp="2019-07-14T05:30:00Z",
                               uid="6f637a60-0000-4000-8000-000000000002")
        rs2["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
        rs2["metadata"]["labels"]["pod-template-hash"] = "5f8c9d7b6c"
        rs2["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "5f8c9d7b6c"
        rs2["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:9.6-alpine"
        rs2["metadata"]["annotations"]["kubernetes.io/change-cause"] = "bump postgres to 9.6"
        rs1["spec"]["replicas"] = 0
        self.deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
        self.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = \
            "postgres:9.6-alpine"
        self.deployment["metadata"]["managedFields"] = [
            {"manager": "kubectl-set", "operation": "Update", "apiVersion": "apps/v1",
             "time": "2019-07-14T05:29:58Z"},
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
             "time": "2019-07-14T05:45:00Z", "subresource": "status"}]
        self.deployment["status"] = {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1,
                                     "updatedReplicas": 2, "unavailableReplicas": 1,
                                     "conditions": [{"type": "Available", "status": "False",
                                                     "reason": "MinimumReplicasUnavailable",
                                                     "message": "Deployment does not have "
                                                                "minimum availability.",
                                                     "lastTransitionTime":
                                                         "2019-07-14T05:41:10Z"}]}
        self.deployment["spec"]["replicas"] = 2
        self.replicasets = [rs1, rs2]
        pod = _load(k9s / "po.json")
        crash = copy.deepcopy(pod)
        crash["metadata"].update(name="icx-db-5f8c9d7b6c-x2k9q", namespace=NS,
                                 labels={"app": "icx-db", "pod-template-hash": "5f8c9d7b6c"})
        crash["spec"]["containers"][0].update(name="icx-db", image="postgres:9.6-alpine")
        status = _load(DATA / "containerstatus_crashloop_oomkilled.json")
        status["image"] = "postgres:9.6-alpine"
        crash["status"]["containerStatuses"] = [status]
        crash["status"]["conditions"][1].update(status="False", reason="ContainersNotReady")
        ok = copy.deepcopy(pod)
        ok["metadata"].update(name="icx-db-5f8c9d7b6c-7hq2m", namespace=NS,
                              labels={"app": "icx-db", "pod-template-hash": "5f8c9d7b6c"})
        ok["spec"]["containers"][0].update(name="icx-db", image="postgres:9.6-alpine")
        ok["status"]["containerStatuses"][0].update(name="icx-db", image="postgres:9.6-alpine")
        stranger = copy.deepcopy(pod)  # a pod of another app in the namespace
        stranger["metadata"].update(namespace=NS, labels={"app": "nginx"})
        self.pods = [crash, ok, stranger]
        captured = _load(k9s / "ev.json")
        warning = copy.deepcopy(captured)
        warning["metadata"].update(name="icx-db-5f8c9d7b6c-x2k9q.15bfce150bd764ee", namespace=NS)
        warning["involvedObject"].update(name="icx-db-5f8c9d7b6c-x2k9q", namespace=NS)
        warning.update(type="Warning", reason="BackOff", count=12,
                       message="Back-off restarting failed container",
                       firstTimestamp="2019-07-14T05:41:12Z",
                       lastTimestamp="2019-07-14T05:50:00Z")
        self.events = [captured, warning]
        self.configmaps = [{"metadata": {
            "name": "icx-db-config", "namespace": NS, "labels": {"app": "icx-db"},
            "managedFields": [{"manager": "kubectl-edit", "operation": "Update",
                               "time": "2019-07-14T05:25:00Z"}]},
            "data": {"postgresql.conf": "max_connections = 20\n"}}]
        self.secrets = [{"metadata": {
            "name": "icx-creds", "namespace": NS,
            "managedFields": [{"manager": "vault-injector", "operation": "Update",
                               "time": "2019-07-14T05:20:00Z"}]},
            "type": "Opaque", "data": {"pg_pwd": SECRET_VALUE}}]  # a proxy ignoring Accept
        usage = _load(self.fixtures / "kubernetes" / "website_cc_by_4.0" /
                      "metrics_k8s_io_v1beta1_podmetrics_single.json")
        self.podmetrics = []
        for p, cpu in ((crash, "250000000n"), (ok, "120000000n")):
            m = _strip(usage)
            m["metadata"].update(name=p["metadata"]["name"], namespace=NS)
            m["containers"] = [{"name": "icx-db", "usage": {"cpu": cpu, "memory": "480Mi"}}]
            self.podmetrics.append(m)

    # ------------------------------------------------------------------ serving

    def _list(self, kind: str, items: list[dict[str, Any]], req: httpx.Request,
              api: str = "v1") -> httpx.Response:
        ns = None
        parts = req.url.path.split("/")
        if "namespaces" in parts:
            ns = parts[parts.index("namespaces") + 1]
        selected = [i for i in items if ns is None or i["metadata"].get("namespace") == ns]
        selector = req.url.params.get("labelSelector")
        if selector:
            want = dict(t.split("=", 1) for t in selector.split(","))
            selected = [i for i in selected
                        if all((i["metadata"].get("labels") or {}).get(k) == v
                               for k, v in want.items())]
        meta: dict[str, Any] = {"resourceVersion": "37116400"}
        if self.page_size and kind == "PodList":
            start = int(req.url.params.get("continue", "0") or 0)
            page = selected[start:start + self.page_size]
            if start + self.page_size < len(selected):
                meta["continue"] = str(start + self.page_size)
            selected = page
        body = {"kind": kind, "apiVersion": api, "metadata": meta,
                "items": [_strip(i) for i in selected]}
        return httpx.Response(200, content=orjson.dumps(body),
                              headers={"Content-Type": "application/json"})

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        if self.unauthorized:
            return httpx.Response(401, content=(DATA / "status_401.json").read_bytes(),
                                  headers={"Content-Type": "application/json"})
        path = req.url.path
        if path in self.forbidden:
            body = (DATA / "status_403_events.json").read_bytes()
            return httpx.Response(403, content=body, headers={"Content-Type": "application/json"})
        resource = path.rstrip("/").rsplit("/", 1)[-1]
        if path.startswith("/apis/metrics.k8s.io/"):
            return self._list("PodMetricsList", self.podmetrics, req, "metrics.k8s.io/v1beta1")
        table: dict[str, tuple[str, list[dict[str, Any]], str]] = {
            "deployments": ("DeploymentList", [self.deployment], "apps/v1"),
            "statefulsets": ("StatefulSetList", [], "apps/v1"),
            "daemonsets": ("DaemonSetList", [], "apps/v1"),
            "replicasets": ("ReplicaSetList", self.replicasets, "apps/v1"),
            "pods": ("PodList", self.pods, "v1"),
            "events": ("EventList", self.events, "v1"),
            "configmaps": ("ConfigMapList", self.configmaps, "v1"),
            "secrets": ("SecretList", self.secrets, "v1"),
            "horizontalpodautoscalers": ("HorizontalPodAutoscalerList", [], "autoscaling/v2"),
        }
        if resource in table:
            kind, items, api = table[resource]
            return self._list(kind, items, req, api)
        return httpx.Response(404, content=b'{"kind":"Status","code":404,"reason":"NotFound"}')


def kubeconfig(tmp_path: Path, namespace: str = NS) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {{server: "https://k8s.test:6443"}}
users:
- name: reader
  user: {{token: {TOKEN}}}
contexts:
- name: prod-ro
  context: {{cluster: prod, user: reader, namespace: {namespace}}}
- name: other
  context: {{cluster: prod, user: reader, namespace: elsewhere}}
current-context: other
""")
    return path
