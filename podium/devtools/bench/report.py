"""Write a run's results: JSON, a Markdown table and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(x: Any) -> str:
    if x is None:
        return "not measured"
    if isinstance(x, float):
        return f"{x:,.1f}" if abs(x) >= 10 else f"{x:.3g}"
    return str(x)


def _base(b: dict[str, Any], key: str) -> str:
    return _fmt(b.get(key)) if b.get("measured") else f"not measured ({b.get('reason', '')})"


def markdown(results: dict[str, Any]) -> str:
    s = results["scenarios"]
    lines = [f"Run {results['started']} ({results['mode']}), `{results['command']}`", "",
             "| Scenario | Podium | Baseline | Baseline figure | Podium / baseline |", "|---|---|---|---|---|"]
    ing = s.get("ingest")
    if ing and ing.get("status") == "measured":
        for name, b in ing["baselines"].items():
            lines.append(f"| ingest (scores/s, POST /v1/scores, 1000-entry signed batches) | {_fmt(ing['podium_scores_per_s'])} "
                         f"| {name} | {_base(b, 'items_per_s')} | {_fmt(ing['ratios'][name])} |")
        if ing.get("scores_per_region_cpu_s"):
            lines.append(f"| ingest per region CPU-second (scores) | {_fmt(ing['scores_per_region_cpu_s'])} | | | |")
        if ing.get("scores_per_redis_cpu_s"):
            lines.append(f"| ingest per Redis CPU-second (scores) | {_fmt(ing['scores_per_redis_cpu_s'])} | | | |")
        if ing.get("apply_redis_cpu"):
            from podium.devtools.bench.apply_redis_cpu import markdown_rows as apply_cpu_rows

            lines += apply_cpu_rows(ing["apply_redis_cpu"])
        ack = ing.get("ack_latency")
        if ack:
            lines.append(f"| ingest ack latency, {ack['batch_entries']}-entry batches at {ack['load_vs_peak']} of peak "
                         f"({_fmt(ack['scores_per_s'])} scores/s, target {ack['target_batches_per_s']} batches/s) "
                         f"| p50 {ack['p50_ms']} ms, p99 {ack['p99_ms']} ms (wrk); server histogram p50 "
                         f"{ack.get('server_p50_ms')} ms, p99 {ack.get('server_p99_ms')} ms; region threads waiting for a CPU "
                         f"{ack.get('region_runqueue_wait_ms_per_request')} ms per batch | target p99 < 20 ms | | |")
    if s.get("trending"):
        from podium.devtools.bench.trending import markdown_rows

        lines += markdown_rows(s["trending"])
    if s.get("convergence"):
        from podium.devtools.bench.convergence import markdown_rows as convergence_rows

        lines += convergence_rows(s["convergence"])
    if s.get("notifications"):
        from podium.devtools.bench.notifications import markdown_rows as notification_rows

        lines += notification_rows(s["notifications"])
    rd = s.get("read")
    if rd and rd.get("status") == "measured":
        for board in rd["boards"]:
            n, h, ip, b, r = board["players"], board["http"], board["inprocess"], board["baselines"], board["ratios"]
            rows = [
                ("top-100 HTTP", h["top100"], "peer_leaders_100", "http_top100_vs_peer_leaders_100"),
                ("top-100 HTTP", h["top100"], "redis_benchmark_zrevrange_0_99", "http_top100_vs_redis_benchmark_zrevrange"),
                ("page 500-600 HTTP", h["page500_600"], "peer_leaders_100", "http_page_vs_peer_leaders_100"),
                ("rank HTTP", h["rank"], "peer_rank_for", "http_rank_vs_peer_rank_for"),
                ("rank HTTP", h["rank"], "redis_benchmark_zrevrank", "http_rank_vs_redis_benchmark_zrevrank"),
                ("around HTTP", h["around"], "peer_around_me_25", "http_around_vs_peer_around_me"),
                ("top-100 in-process", ip["top100"], "peer_leaders_100", "inprocess_top100_vs_peer_leaders_100"),
                ("rank in-process", ip["rank"], "peer_rank_for", "inprocess_rank_vs_peer_rank_for"),
                *([("rank in-process, member known", ip["rank_known"], "peer_rank_for",
                    "inprocess_rank_known_vs_peer_rank_for")] if "rank_known" in ip else []),
                ("around in-process", ip["around"], "peer_around_me_25", "inprocess_around_vs_peer_around_me"),
            ]
            for label, fig, bname, rname in rows:
                lines.append(f"| {label} @{n:,} (req/s; p50/p99 ms) | {_fmt(fig['rps'])} ({fig['p50_ms']}/{fig['p99_ms']}) "
                             f"| {bname} | {_base(b[bname], 'rps')} | {_fmt(r[rname])} |")
            p = h["top100_paced"]
            lines.append(f"| top-100 HTTP paced @{n:,} | {_fmt(p['rps'])} req/s, p50/p95/p99 {p['p50_ms']}/{p['p95_ms']}/{p['p99_ms']} ms "
                         f"| target {p['target_rps']:.0f} req/s, p99 < 5 ms | | |")
    mem = s.get("memory")
    if mem and mem.get("status") == "measured":
        for m in mem["boards"]:
            pod, r = m["podium"]["bytes_per_player"], m["ratios"]
            for base, label, ratio in (("plain_zset", "plain ZSET (ZADD player score)", "podium_vs_plain_zset"),
                                       ("previous_encoding", "previous encoding (hex member + index hash)",
                                        "podium_vs_previous_encoding")):
                lines.append(f"| Redis bytes/player/board @{m['players']:,} (target ≤ {mem['target_bytes_per_player_max']}) "
                             f"| {_fmt(pod)} | {label} | {_fmt(m[base]['bytes_per_player'])} | {_fmt(r[ratio])} |")
    contests = s.get("contests")
    if contests is not None and contests.get("status") == "measured":
        f = contests["fanout"]
        lines.append(f"| contest fan-out: one event → {f['teams_updated']:,} of {f['teams']:,} teams (s) "
                     f"| {_fmt(f['fanout_s'])} | naive scan + ZINCRBY | {_fmt(f['baseline_naive_s'])} "
                     f"| {_fmt(f['ratio_vs_naive'])} |")
        live = f.get("live")
        if live:
            lines.append(f"| contest live: {live['events_per_min_achieved']} of {live['events_per_min_target']} events/min, "
                         f"{live['subscribers']:,} subscribers, tick lag p99 (ms; target ≤ 1,000) "
                         f"| {_fmt(live['tick_lag_ms_p99'])} | same rate, one entry changed per event "
                         f"| {_fmt(live['baseline_one_entry_tick_lag_ms_p99'])} | |")
        for ledger in ("sqlite", "postgres"):
            j = contests.get(f"joins_{ledger}", {})
            if "joins_per_s" in j:
                lines.append(f"| joinContest/s, ledger on {ledger} | {_fmt(j['joins_per_s'])} | | | |")
    kafka = s.get("kafka")
    if kafka and kafka.get("status") == "measured":
        for mode in ("kafka", "kafka_paced"):
            k = kafka[mode]
            direct = kafka.get("direct", {})
            lines.append(f"| {mode} on {kafka['broker']} (acked scores/s; ack p50/p99 ms; ack→ranked p50/p99 ms) "
                         f"| {_fmt(k['scores_per_s'])}; {k['ack_ms_p50']}/{k['ack_ms_p99']}; "
                         f"{k['ack_to_ranked_ms_p50']}/{k['ack_to_ranked_ms_p99']} | direct path (no broker) "
                         f"| {_fmt(direct.get('scores_per_s'))} | "
                         f"{_fmt(kafka.get('kafka_vs_direct_throughput')) if mode == 'kafka' else ''} |")
    for name in ("subscriptions", "global", "kafka", "contests"):
        if name in ("kafka", "contests") and (s.get(name) or {}).get("status") == "measured":
            continue
        sc = s.get(name)
        if name == "kafka" and sc is not None and sc.get("status") == "measured":
            continue   # rows above
        if sc is None:
            continue
        if sc.get("status") != "measured":
            lines.append(f"| {name} | {sc.get('status')}: {sc.get('reason') or sc.get('error', '')} | | | |")
        else:
            lines.append(f"| {name} | see results.json (`{name}`) | | | |")
    return "\n".join(lines) + "\n"


def plots(results: dict[str, Any], out: Path) -> list[str]:
    """Throughput and latency percentiles per scenario (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    s = results["scenarios"]
    ing = s.get("ingest")
    if ing and ing.get("status") == "measured":
        names = ["podium"] + [k for k, v in ing["baselines"].items() if v.get("measured")]
        vals = [ing["podium_scores_per_s"]] + [ing["baselines"][k]["items_per_s"] for k in names[1:]]
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.barh(names, vals)
        ax.set_xlabel("scores/s")
        ax.set_title("ingest throughput")
        fig.tight_layout()
        fig.savefig(out / "ingest_throughput.png")
        plt.close(fig)
        written.append("ingest_throughput.png")
    rd = s.get("read")
    if rd and rd.get("status") == "measured":
        for board in rd["boards"]:
            n = board["players"]
            ops = ["top100", "page500_600", "rank", "around"]
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
            a1.bar(ops, [board["http"][o]["rps"] for o in ops])
            a1.set_title(f"GraphQL HTTP req/s @{n:,}")
            width = 0.25
            for i, p in enumerate(("p50_ms", "p95_ms", "p99_ms")):
                a2.bar([j + i * width for j in range(len(ops))], [board["http"][o][p] for o in ops], width, label=p)
            a2.set_xticks([j + width for j in range(len(ops))], ops)
            a2.set_title("latency (ms)")
            a2.legend()
            fig.tight_layout()
            fig.savefig(out / f"read_{n}.png")
            plt.close(fig)
            written.append(f"read_{n}.png")
    return written


def write(results: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(markdown(results))
    results["plots"] = plots(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return {"json": out / "results.json", "markdown": out / "results.md"}
