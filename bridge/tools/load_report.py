"""``talkbridge loadtest``'s numbers: the server's CPU and memory from ``/proc``, and the
report built from them and the checker's tally. Pure parsing and arithmetic."""

from __future__ import annotations

import os
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.tools.load_checker import Histogram, Tally
from bridge.tools.load_options import LoadOptions


@dataclass(frozen=True)
class Sample:
    t: float      # s since the clients started
    cpu: float    # CPU seconds the process has used (user + system, with reaped children)
    rss: float    # resident memory, MB


def cpu_seconds(stat: str, ticks: int) -> float:
    """From ``/proc/<pid>/stat``; split after the last ')' since the name may hold spaces."""
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks  # utime stime cutime cstime


def rss_mb(status: str) -> float:
    """``VmRSS`` of ``/proc/<pid>/status`` (kB) in MB."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise ValueError("no VmRSS line: the process is gone")


def read_sample(pid: int, t: float) -> Sample:
    ticks = os.sysconf("SC_CLK_TCK")
    return Sample(t, cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), ticks),
                  rss_mb(Path(f"/proc/{pid}/status").read_text()))


def summarize_samples(samples: list[Sample], seconds: float) -> dict[str, Any] | None:
    """CPU % (mean over the run, max over 1 s intervals) and RSS growth after warm-up.

    Growth compares the median RSS of the run's second tenth (loading voices, the first
    sessions' buffers and the allocator's pools are warm-up, not growth) with that of its
    last tenth, while the load is still on. Medians, not single samples: the voice gives
    its arena back every 30 s, so RSS saws up and down by tens of MB, and two single
    samples measured where in that saw they fell. Samples after the run (clients closing)
    count only towards ``max``.
    """
    if len(samples) < 2:
        return None
    rates = [100.0 * (b.cpu - a.cpu) / (b.t - a.t) for a, b in zip(samples, samples[1:]) if b.t > a.t]
    span = samples[-1].t - samples[0].t
    warm = _median_rss(samples, 0.1 * seconds, 0.2 * seconds)
    last = _median_rss(samples, 0.9 * seconds, seconds)
    step = max(1, len(samples) // 10)
    return {
        "cpu_percent": {"mean": round(100.0 * (samples[-1].cpu - samples[0].cpu) / span, 1),
                        "max": round(max(rates), 1)},
        "rss_mb": {"first": round(warm, 1), "first_at_s": round(0.1 * seconds, 1),
                   "last": round(last, 1), "max": round(max(s.rss for s in samples), 1),
                   "growth_percent": round(100.0 * (last - warm) / warm, 2),
                   "series": [[round(s.t), round(s.rss, 1)] for s in samples[::step]]},
        "samples": len(samples),
    }


def _median_rss(samples: list[Sample], start: float, end: float) -> float:
    """Median RSS of the samples in [start, end]; the nearest sample if none falls there."""
    inside = [s.rss for s in samples if start <= s.t <= end]
    if not inside:
        return min(samples, key=lambda s: abs(s.t - start)).rss
    return statistics.median(inside)


# ---- the report (pure) -------------------------------------------------------------------

def build_report(opts: LoadOptions, tally: Tally, elapsed: float, server: dict[str, Any] | None,
                 lag: Histogram, client_cpu: float, load: tuple[float, float]) -> dict[str, Any]:
    checked = tally.frames["audio"] + tally.frames["curves"]
    late = sum(tally.late.values())
    errors = dict(sorted(tally.errors.items()))
    growth = server["rss_mb"]["growth_percent"] if server else None
    return {
        "sessions": opts.sessions,
        "seconds": opts.seconds,
        "elapsed_s": round(elapsed, 1),
        "mix": dict(Counter(opts.kind(i) for i in range(opts.sessions))),
        "buffer_ms": round(opts.buffer * 1000),
        "turns": dict(tally.turns),
        "messages": {"sent": sum(tally.sent.values()), "received": sum(tally.received.values()),
                     "received_by_type": dict(sorted(tally.received.items()))},
        "frames": {"audio": tally.frames["audio"], "curves": tally.frames["curves"],
                   "idle": tally.frames["idle"], "checked": checked},
        "late": {"frames": late, "share": round(late / checked, 6) if checked else 0.0,
                 "by_source": dict(tally.late), "worst_ms": round(tally.worst_late * 1000, 1),
                 "first": tally.late_events},
        "lead_ms": {"p1": tally.lead.percentile(1), "p50": tally.lead.percentile(50),
                    "p99": tally.lead.percentile(99)},
        "first_frame_ms": {kind: {"p50": h.percentile(50), "p99": h.percentile(99)}
                           for kind, h in sorted(tally.response.items())},
        "busy_answer_ms": {"p50": tally.busy_answer.percentile(50),
                           "p99": tally.busy_answer.percentile(99),
                           "max": tally.busy_answer.percentile(100)},
        "errors": errors,
        "dropped_connections": sum(tally.dropped.values()),
        "dropped_by": dict(tally.dropped),
        "server": server,
        "client": {"cpu_percent": round(client_cpu, 1), "loop_lag_ms": {
            "p99": lag.percentile(99), "max": lag.percentile(100)}},
        "machine": {"cpus": os.cpu_count(), "load_start": load[0], "load_end": load[1]},
        "ok": not errors and not tally.dropped and not late and checked > 0
        and (growth is None or growth < 5.0),
    }


def format_report(r: dict[str, Any]) -> str:
    """The report for a terminal; ``--json`` prints the whole dict."""
    srv = r["server"]
    lines = [
        f"sessions     {r['sessions']} ({', '.join(f'{k} {v}' for k, v in r['mix'].items())}), "
        f"buffer {r['buffer_ms']} ms",
        f"seconds      {r['seconds']:g} (ran {r['elapsed_s']}); turns "
        + ", ".join(f"{k} {v}" for k, v in r["turns"].items()),
        f"messages     sent {r['messages']['sent']}, received {r['messages']['received']}",
        f"frames       audio {r['frames']['audio']}, curves {r['frames']['curves']}, "
        f"idle {r['frames']['idle']} (not checked)",
        f"late frames  {r['late']['frames']} ({100 * r['late']['share']:.3f} %) "
        f"{r['late']['by_source'] or ''} worst {r['late']['worst_ms']} ms",
        *[f"  late at    {e['run_s']} s: {e['source']} {e['what']} t={e['utterance_t']} s, "
          f"{e['frames']} frames, {e['late_ms']} ms" for e in r["late"].get("first", [])[:5]],
        f"lead ms      p1 {r['lead_ms']['p1']}, p50 {r['lead_ms']['p50']}, p99 {r['lead_ms']['p99']}",
        "first frame  " + ", ".join(f"{k} p50 {v['p50']} / p99 {v['p99']} ms"
                                    for k, v in r["first_frame_ms"].items()),
    ]
    busy = r.get("busy_answer_ms") or {}
    if busy.get("p50") is not None:
        lines.append(f"busy answer  p50 {busy['p50']} / p99 {busy['p99']} / max {busy['max']} ms")
    if srv:
        lines += [f"server cpu % mean {srv['cpu_percent']['mean']}, max {srv['cpu_percent']['max']}",
                  f"server RSS   {srv['rss_mb']['first']} MB (median from {srv['rss_mb']['first_at_s']} s) → "
                  f"{srv['rss_mb']['last']} MB (last tenth; growth {srv['rss_mb']['growth_percent']} %, "
                  f"max {srv['rss_mb']['max']})"]
    for generation, row in sorted((r.get("server_gc") or {}).items()):
        lines.append(f"server gc {generation}  {row.get('count', 0):.0f} collections, "
                     f"{row.get('sum', 0)} s in all, over 20 ms {row['over_20ms']:.0f}, "
                     f"over 50 ms {row['over_50ms']:.0f}")
    lines += [f"errors       {r['errors'] or 'none'}; dropped connections {r['dropped_connections']}"
              f" {r['dropped_by'] or ''}",
              f"client       cpu {r['client']['cpu_percent']} %, loop lag p99 "
              f"{r['client']['loop_lag_ms']['p99']} ms, max {r['client']['loop_lag_ms']['max']} ms",
              f"machine      {r['machine']['cpus']} cpus, load {r['machine']['load_start']} → "
              f"{r['machine']['load_end']}"]
    warned = r.get("server_log_warnings") or {}
    if warned.get("count"):
        lines.append(f"server log   {warned['count']} WARNING/ERROR lines; last: {warned['last'][-1]}")
    lines.append("verdict      " + ("ok" if r["ok"] else
                                    "NOT ok (late frames, errors, drops or growth ≥ 5 %)"))
    return "\n".join(lines)


