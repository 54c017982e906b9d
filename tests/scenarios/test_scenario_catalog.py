"""Every scenario generates a bundle with its truth, and its red herrings are really in the data."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from scenario_data import increase, k8s_items, manifest, parse_om, rfc, select

from obsbench.scenarios import SCENARIOS, GenerationResult, list_scenarios
from obsbench.scenarios.topology import BY_NAME, SERVICES, edges, topo_order
from obsbench_servers.store.bundle import ROOT_CAUSE_KINDS, Manifest

NAMES = sorted(SCENARIOS)


def test_catalog_shape() -> None:
    assert len(SCENARIOS) >= 12
    for name, sc in SCENARIOS.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
        assert sc.kind in ROOT_CAUSE_KINDS
        assert sc.truth_service in BY_NAME
        assert sc.truth_service not in sc.symptoms
    kinds = {sc.kind for sc in SCENARIOS.values()}
    assert len(kinds) >= 9


def test_topology_is_big_enough_and_acyclic() -> None:
    assert len(SERVICES) >= 10
    order = topo_order()
    for caller, callee, _ in edges():
        assert order.index(caller) < order.index(callee)
    assert {k for _, _, k in edges()} == {"sync", "async"}
    assert BY_NAME["payment-gateway"].workload == "External"
    assert BY_NAME["nightly-reconcile"].workload == "CronJob"


def test_list_never_reveals_the_truth_service() -> None:
    for item in list_scenarios():
        sc = SCENARIOS[item["name"]]
        assert "truth" not in item
        assert sc.truth_service not in item["services"]
        assert sc.truth_service not in item["description"]
    shown = {i["name"]: i["truth"]["service"] for i in list_scenarios(show_truth=True)}
    assert shown == {n: sc.truth_service for n, sc in SCENARIOS.items()}


@pytest.mark.parametrize("name", NAMES)
def test_bundle_has_truth_and_red_herrings(name: str, bundle: Callable[..., GenerationResult]
                                          ) -> None:
    result = bundle(name)
    out = result.out_dir
    m = Manifest.load(out)  # the store's own validation of bundle.toml
    sc = SCENARIOS[name]
    assert m.name == name and m.window is not None and m.truth is not None
    assert m.truth.service == sc.truth_service and m.truth.kind == sc.kind
    onset = rfc(m.truth.onset)
    assert rfc(m.window.start) <= onset < rfc(m.window.end)
    assert m.truth.summary
    assert m.truth.red_herrings, "every scenario plants at least one red herring"
    assert sc.truth_service not in m.description
    # The agent-facing copy has no truth.
    assert m.without_truth().truth is None
    assert result.truth["onset"] == m.truth.onset


@pytest.mark.parametrize("name", NAMES)
def test_herring_deploys_are_real_rollouts(name: str, bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir(name)
    herrings = manifest(out)["truth"]["red_herrings"]
    deploys = [h for h in herrings if h.startswith("deploy ")]
    assert deploys, "each scenario has an unrelated deploy before the onset"
    rs = k8s_items(out, "replicasets")
    for h in deploys:
        m = re.match(r"deploy ([a-z-]+): (\S+) rolled out at (\S+) ", h)
        assert m, h
        svc, version, at = m.groups()
        match = [r for r in rs if r["metadata"]["name"].startswith(svc + "-")
                 and r["metadata"]["creationTimestamp"] == at
                 and r["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
                     ":" + version)]
        assert match, f"no ReplicaSet for {h}"
        window_end = manifest(out)["window"]["end"]
        if name == "capacity-rightsizing":  # the question is about now: a deploy in the last hours
            assert rfc(window_end) - 4 * 3600 < rfc(at) < rfc(window_end)
        else:
            assert at < manifest(out)["truth"]["onset"], "a herring deploy comes before the onset"


@pytest.mark.parametrize("name", [n for n in NAMES if n != "batch-table-lock"])
def test_flapping_batch_warning_flaps(name: str, bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir(name)
    series = parse_om(out / "metrics" / "pushgateway.om", {"nightly_reconcile_backlog_rows"})
    ((_, pts),) = select(series, "nightly_reconcile_backlog_rows")
    above = [v > 50_000 for _, v in pts]
    crossings = sum(1 for a, b in itertools.pairwise(above) if a != b)
    assert crossings >= 6, "the backlog should hover around its alert threshold"


@pytest.mark.parametrize("name", NAMES)
def test_noisy_throttling_is_steady_and_harmless(name: str,
                                                bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir(name)
    series = parse_om(out / "metrics" / "kubelet.om", {
        "container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_periods_total"})
    m = manifest(out)
    lo, hi = rfc(m["window"]["end"]) - 3 * 3600, rfc(m["window"]["end"])
    thr = select(series, "container_cpu_cfs_throttled_periods_total", container="notification")
    per = {lab["pod"]: p for lab, p in select(series, "container_cpu_cfs_periods_total",
                                               container="notification")}
    ratios = [increase(p, lo, hi) / increase(per[lab["pod"]], lo, hi) for lab, p in thr
              if increase(per[lab["pod"]], lo, hi) > 0]
    assert ratios and all(0.25 < r < 0.45 for r in ratios)
    # Harmless: notification is an async consumer; no service calls it synchronously.
    assert not [e for e in edges() if e[1] == "notification" and e[2] == "sync"]
