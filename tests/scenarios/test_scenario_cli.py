"""`obsbench scenarios list|generate`: JSON contract, counts that match the files, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench.scenarios import SCENARIOS

runner = CliRunner()


def test_list_json_hides_the_truth() -> None:
    res = runner.invoke(app, ["scenarios", "list", "--json"])
    assert res.exit_code == 0, res.output
    items = json.loads(res.stdout)["scenarios"]
    assert [i["name"] for i in items] == list(SCENARIOS)
    for i in items:
        assert {"name", "description", "kind", "services"} <= set(i)
        assert "truth" not in i
        assert SCENARIOS[i["name"]].truth_service not in i["services"]
    res = runner.invoke(app, ["scenarios", "list", "--json", "--show-truth"])
    shown = {i["name"]: i["truth"]["service"] for i in json.loads(res.stdout)["scenarios"]}
    assert shown["bad-deploy-db-pool"] == "user-api"


def test_list_table() -> None:
    res = runner.invoke(app, ["scenarios", "list"])
    assert res.exit_code == 0
    assert "network-delay" in res.stdout
    assert "user-api" not in res.stdout.split("bad-deploy")[1][:60]


def test_generate_json_counts_match_the_files(tmp_path: Path) -> None:
    out = tmp_path / "b"
    res = runner.invoke(app, ["scenarios", "generate", "certificate-expiry", "--out", str(out),
                              "--seed", "5", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["scenario"] == "certificate-expiry" and data["seed"] == 5
    assert "truth" not in data
    by_path = {f["path"]: f for f in data["files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
               and not p.name.startswith(".")}
    assert set(by_path) == on_disk
    for rel, f in by_path.items():
        path = out / rel
        assert f["bytes"] == path.stat().st_size
        if rel.endswith(".om"):
            n = sum(1 for line in path.read_text().splitlines() if not line.startswith("#"))
            assert n == f["records"]
        elif rel.endswith(".jsonl"):
            assert f["records"] == len(path.read_text().splitlines())
        elif rel.startswith("k8s/"):
            assert f["records"] == len(json.loads(path.read_text())["items"])
    assert data["counts"]["metric_samples"] == sum(f["records"] for f in data["files"]
                                                   if f["format"] == "openmetrics")
    assert data["counts"]["spans"] > 5000


def test_unknown_scenario_is_a_usage_error_with_suggestions(tmp_path: Path) -> None:
    res = runner.invoke(app, ["scenarios", "generate", "disk-ful", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "unknown scenario 'disk-ful'" in res.stderr
    assert "disk-full" in res.stderr
    assert not (tmp_path / "x").exists()


def test_refuses_a_foreign_non_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    res = runner.invoke(app, ["scenarios", "generate", "network-delay", "--out", str(out)])
    assert res.exit_code == 2
    assert "--force" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    res = runner.invoke(app, ["scenarios", "generate", "network-delay", "--out", str(out),
                              "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "notes.txt").read_text() == "precious"
    assert (out / "bundle.toml").exists()


def test_regenerates_its_own_bundle_in_place(tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert runner.invoke(app, ["scenarios", "generate", "network-delay", "--out", str(out),
                               "--gzip"]).exit_code == 0
    assert (out / "metrics" / "kubelet.om.gz").exists()
    # Same scenario again, now plain: the gzip files it wrote before are replaced, not doubled.
    assert runner.invoke(app, ["scenarios", "generate", "network-delay", "--out", str(out)]
                         ).exit_code == 0
    assert not list(out.rglob("*.gz"))
    # Another scenario into it is refused: it is a bundle of a different scenario.
    res = runner.invoke(app, ["scenarios", "generate", "disk-full", "--out", str(out)])
    assert res.exit_code == 2 and "network-delay" in res.stderr


def test_bad_end_and_scale(tmp_path: Path) -> None:
    res = runner.invoke(app, ["scenarios", "generate", "disk-full", "--out", str(tmp_path / "x"),
                              "--end", "yesterday-ish"])
    assert res.exit_code == 2 and "--end" in res.stderr
    res = runner.invoke(app, ["scenarios", "generate", "disk-full", "--out", str(tmp_path / "x"),
                              "--scale", "huge"])
    assert res.exit_code == 2 and "small" in res.stderr
