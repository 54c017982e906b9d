"""Log template mining benchmark: accuracy on Loghub 2k and throughput on 1.1M lines,
ours against Drain3 in the same process on the same lines.

One command:  python benchmarks/bench_logs.py [--scenario NAME] [--keep DIR] [--lines N]

1. Accuracy. For each of the ten Loghub 2k systems in ../shared/data/loghub (corrected
   ground truth, Khan et al. 2022), both miners get the ``Content`` column (what the
   Loghub benchmark feeds a parser), then the raw lines with their headers (harder:
   timestamps, hosts and levels in front). No per-system setting for either: ours runs
   with its defaults, Drain3 with its defaults (``TemplateMiner()``, no masking).

   - GA (grouping accuracy, Zhu et al. ICSE-SEIP 2019): a line is correct when the set
     of lines in its predicted group is exactly the set of lines of its ground-truth
     group. Predicted groups are each miner's cluster ids (ours: pattern id, Drain3:
     cluster id, both the final assignment after all lines). Truth groups are the
     ``EventTemplate`` strings of the structured file (in Linux three EventIds share
     one template; grouping by template, as Loghub-2.0's evaluator does, counts them
     as one).
   - PA (parsing accuracy, Khan et al. / Loghub-2.0): a line is correct when its
     predicted template string equals its ground-truth template after both go through
     the corrected data's conventions (whitespace collapsed; path-like, digit-only,
     true/false/null/root/admin tokens and tokens glued to a variable become ``<*>``;
     ``<*>.<*>``, ``<*><*>``, ``<*>:<*>``, ``#<*>#`` collapse to ``<*>``). Only for
     the Content row: raw lines carry headers the truth's templates do not have.

2. Throughput. The ``large`` scenario's raw log records (every ``message`` of
   ``logs/*.jsonl``, ~1.1M lines; extracted before timing), mined by ours and by Drain3
   configured with the usual masking (numbers, IPs, hex, UUIDs, long hex sequences, as
   drain3's own examples), one after the other, wall time of the mining loop only.

Writes results/logs.json and results/logs.md. Aim (issue 4): mean GA >= 0.92, throughput
at least Drain3's.
"""

from __future__ import annotations

import argparse
import csv
import gc
import logging
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results

REPO = Path(__file__).resolve().parent.parent
SYSTEMS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "Linux", "OpenSSH", "Spark",
           "Windows"]


def shared_dir() -> Path:
    env = os.environ.get("OBSBENCH_SHARED")
    return Path(env) if env else REPO.parent / "shared"


# ------------------------------------------------------------------------- scoring


def grouping_accuracy(pred: list[Any], truth: list[str]) -> float:
    size = Counter(truth)
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, p in enumerate(pred):
        groups[p].append(i)
    ok = sum(len(idx) for idx in groups.values()
             if len({truth[i] for i in idx}) == 1 and size[truth[idx[0]]] == len(idx))
    return ok / len(truth)


_PATH_DELIMS = r"(\s|,|!|;|:|=|\||\"|'|\[|\]|\(|\)|\{|\})"
_TOKEN_DELIMS = r"(\s|,|!|;|:|=|\||\"|'|\[|\]|\(|\)|\{|\}|\.|-|\+|@|#|\$|%|&)"
_DEFAULT_VARS = {"true", "false", "null", "root", "admin"}


def normalize(template: str) -> str:
    """The corrected Loghub data's template conventions (see the module docstring)."""
    t = re.sub(r"\s+", " ", template.strip())
    t = "".join("<*>" if re.fullmatch(r"(/[^/]+)+", p) else p for p in re.split(_PATH_DELIMS, t))
    out = []
    for tok in re.split(_TOKEN_DELIMS, t):
        variable = (tok.lower() in _DEFAULT_VARS or re.fullmatch(r"\d+", tok)
                    or (re.fullmatch(r"[^\s/]*<\*>[^\s/]*", tok) and tok != "<*>/<*>"))
        out.append("<*>" if variable else tok)
    t = "".join(out)
    for pair in ("<*>.<*>", "<*><*>", "#<*>#", "<*>:<*>"):
        while pair in t:
            t = t.replace(pair, "<*>")
    return t


def parsing_accuracy(pred_templates: list[str], truth: list[str]) -> float:
    cache: dict[str, str] = {}

    def norm(t: str) -> str:
        if t not in cache:
            cache[t] = normalize(t)
        return cache[t]

    return sum(norm(p) == norm(t) for p, t in zip(pred_templates, truth, strict=True)) / len(truth)


# ------------------------------------------------------------------------- miners


def ours(lines: list[str]) -> tuple[list[str], list[str]]:
    from obsbench_servers.logs.patterns import TemplateMiner

    miner = TemplateMiner()
    leaves = [miner.add(ln) for ln in lines]
    ids = miner.leaf_pattern_ids()
    templates = {p.id: p.template for p in miner.patterns()}
    per_line = [ids[li] for li in leaves]
    return per_line, [templates[i] for i in per_line]


def drain3_miner(masking: bool) -> Any:
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    logging.getLogger("drain3").setLevel(logging.ERROR)
    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    if masking:  # the masking of drain3's own examples (examples/drain3.ini)
        cfg.masking_instructions = [
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))"
                               r"((?=[^A-Za-z0-9])|$)", "ID"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})"
                               r"((?=[^A-Za-z0-9])|$)", "IP"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                               r"[0-9a-f]{4}-[0-9a-f]{12})((?=[^A-Za-z0-9])|$)", "UUID"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)",
                               "SEQ"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)",
                               "SEQ"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)",
                               "HEX"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
        ]
    return TemplateMiner(config=cfg)


def drain3(lines: list[str]) -> tuple[list[int], list[str]]:
    tm = drain3_miner(masking=False)
    ids = [tm.add_log_message(ln)["cluster_id"] for ln in lines]
    templates = {c.cluster_id: c.get_template() for c in tm.drain.clusters}
    return ids, [templates[i] for i in ids]


# ------------------------------------------------------------------------- parts


def accuracy(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in SYSTEMS:
        base = root / system
        with (base / f"{system}_2k.log_structured_corrected.csv").open(
                newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        content = [r["Content"] for r in rows]
        truth = [r["EventTemplate"] for r in rows]
        raw = (base / f"{system}_2k.log").read_bytes().decode("utf-8", "replace").splitlines()
        assert len(raw) == len(rows), (system, len(raw))
        res: dict[str, Any] = {"lines": len(rows), "truth_groups": len(set(truth))}
        for name, fn in (("ours", ours), ("drain3", drain3)):
            ids, templates = fn(content)
            raw_ids, _ = fn(raw)
            res[name] = {"ga": grouping_accuracy(ids, truth),
                         "pa": parsing_accuracy(templates, truth),
                         "groups": len(set(ids)),
                         "ga_raw": grouping_accuracy(raw_ids, truth)}
        out[system] = res
        print(f"{system:8s} ours GA {res['ours']['ga']:.3f} PA {res['ours']['pa']:.3f} | "
              f"drain3 GA {res['drain3']['ga']:.3f} PA {res['drain3']['pa']:.3f}",
              file=sys.stderr)
    return out


def scenario_lines(bundle: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted((bundle / "logs").glob("*.jsonl")):
        with path.open("rb") as f:
            for raw in f:
                msg = orjson.loads(raw).get("message")
                if isinstance(msg, str):
                    lines.append(msg)
    return lines


def throughput(lines: list[str]) -> dict[str, Any]:
    from obsbench_servers.logs.patterns import TemplateMiner

    gc.collect()
    t0 = time.perf_counter()
    miner = TemplateMiner()
    for ln in lines:
        miner.add(ln)
    n_ours = len(miner.patterns())
    ours_s = time.perf_counter() - t0
    del miner
    gc.collect()
    tm = drain3_miner(masking=True)
    t0 = time.perf_counter()
    for ln in lines:
        tm.add_log_message(ln)
    drain_s = time.perf_counter() - t0
    return {"lines": len(lines),
            "ours": {"seconds": ours_s, "lines_per_s": len(lines) / ours_s, "patterns": n_ours},
            "drain3_masked": {"seconds": drain_s, "lines_per_s": len(lines) / drain_s,
                              "clusters": len(tm.drain.clusters)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="bad-deploy-db-pool")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="reuse/keep the generated large bundle here")
    ap.add_argument("--lines", type=int, default=0, help="throughput on the first N lines only")
    args = ap.parse_args()

    loghub = shared_dir() / "data" / "loghub"
    if not loghub.is_dir():
        print(f"{loghub} is missing (set OBSBENCH_SHARED)", file=sys.stderr)
        return 2
    acc = accuracy(loghub)

    bundle = args.keep or Path(tempfile.mkdtemp(prefix="obsbench-bench-logs-")) / "bundle"
    if not (bundle / "bundle.toml").exists():
        from obsbench.scenarios import generate

        print(f"generating {args.scenario} (large) into {bundle} ...", file=sys.stderr)
        generate(args.scenario, bundle, seed=args.seed, scale="large")
    lines = scenario_lines(bundle)
    if args.lines:
        lines = lines[: args.lines]
    tput = throughput(lines)
    load = os.getloadavg()

    def mean(who: str, key: str) -> float:
        return sum(acc[s][who][key] for s in SYSTEMS) / len(SYSTEMS)

    table = [
        "| system | GA ours | GA Drain3 | PA ours | PA Drain3 | GA ours (raw lines) | "
        "GA Drain3 (raw lines) | groups ours / Drain3 / truth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in SYSTEMS:
        a = acc[s]
        table.append(f"| {s} | {a['ours']['ga']:.3f} | {a['drain3']['ga']:.3f} | "
                     f"{a['ours']['pa']:.3f} | {a['drain3']['pa']:.3f} | "
                     f"{a['ours']['ga_raw']:.3f} | {a['drain3']['ga_raw']:.3f} | "
                     f"{a['ours']['groups']} / {a['drain3']['groups']} / {a['truth_groups']} |")
    table.append(f"| **mean** | **{mean('ours', 'ga'):.3f}** | **{mean('drain3', 'ga'):.3f}** | "
                 f"**{mean('ours', 'pa'):.3f}** | **{mean('drain3', 'pa'):.3f}** | "
                 f"**{mean('ours', 'ga_raw'):.3f}** | **{mean('drain3', 'ga_raw'):.3f}** | |")
    table += [
        "",
        f"Throughput on {tput['lines']:,} raw log lines of `{args.scenario}` (large): "
        f"ours {tput['ours']['lines_per_s']:,.0f} lines/s ({tput['ours']['seconds']:.1f} s, "
        f"{tput['ours']['patterns']} patterns), Drain3 with masking "
        f"{tput['drain3_masked']['lines_per_s']:,.0f} lines/s "
        f"({tput['drain3_masked']['seconds']:.1f} s, {tput['drain3_masked']['clusters']} "
        f"clusters); load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"on {os.cpu_count()} cores.",
    ]
    write_results("logs", {
        "accuracy": acc, "throughput": tput, "scenario": args.scenario,
        "mean": {"ours": {"ga": mean("ours", "ga"), "pa": mean("ours", "pa"),
                          "ga_raw": mean("ours", "ga_raw")},
                 "drain3": {"ga": mean("drain3", "ga"), "pa": mean("drain3", "pa"),
                            "ga_raw": mean("drain3", "ga_raw")}},
        "loadavg": load,
    }, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
