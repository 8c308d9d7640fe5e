#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# perf/pipeline_bench_smoke.py BENCH: viaduct-pipeline-bench runs, briefly, every case (and once
# with --saturated --tx-cksum nic, once with --generators), and its --json line holds what perf/RESULTS.md reads, with
# values that agree with each other. Not a speed test: nothing here depends on how fast the
# machine is.
import json
import subprocess
import sys

bench = sys.argv[1]
out = subprocess.run([bench, "--seconds", "0.2", "--cases", "invite,options,reply,mix", "--json"],
                     capture_output=True, text=True, timeout=120)
failures = 0


def check(what, ok):
    global failures
    print(("ok   - " if ok else "FAIL - ") + what)
    failures += 0 if ok else 1


check(f"the bench exited 0 ({out.returncode})", out.returncode == 0)
lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
check("it printed one JSON line", len(lines) == 1)
if len(lines) != 1:
    print(out.stdout, out.stderr)
    sys.exit(1)
d = json.loads(lines[0])
check("tx_cksum sw by default", d.get("tx_cksum") == "sw")
check("four cases", [c["name"] for c in d["cases"]] == ["invite", "options", "reply", "mix"])
for c in d["cases"]:
    n = c["name"]
    check(f"{n}: frames processed ({c['processed']})", c["processed"] > 0)
    # Every frame the workers took comes out: the TX rings hold more than the RX rings can
    # hand the workers while the generator's thread is not running (before 2026-11-23 they
    # did not, and ~96 frames a case were dropped as tx_full), and nothing in the cases is
    # the pipeline's to drop.
    check(f"{n}: what was processed came out ({c['out']} of {c['processed']})",
          c["out"] == c["processed"])
    check(f"{n}: the workers dropped nothing ({c['drops']})", c["drops"] == 0)
    check(f"{n}: ns_per_msg is 1e9 / msgs_per_sec_per_worker",
          abs(c["ns_per_msg"] * c["msgs_per_sec_per_worker"] / 1e9 - 1) < 0.01)
    check(f"{n}: latency samples ({c['latency_samples']})", c["latency_samples"] > 0)
    # Each frame's worker TX time comes from the worker's log of TX bursts, matched in order.
    check(f"{n}: no sample sent before it was offered ({c['latency_misaligned']})",
          c["latency_misaligned"] == 0)
    # The sustained rate is the offering period's, and so is the busy time it is compared
    # with: a worker cannot be busy longer than that period. (The check used to compare the
    # wall rate with msgs_per_sec_per_worker, whose busy time covers the settle too and counts
    # a preemption inside a burst as busy: on a loaded CI host that rate fell 18% under the
    # wall rate.)
    check(f"{n}: capacity phase busy share in (0, 1.05] ({c['capacity_busy_share']})",
          0 < c["capacity_busy_share"] <= 1.05)
    check(f"{n}: latency phase busy share in (0, 1] ({c['latency_phase_busy_share']})",
          0 < c["latency_phase_busy_share"] <= 1.0)
    check(f"{n}: the latency phase offered at most its target "
          f"({c['latency_achieved_per_sec']:.0f} <= {c['latency_offered_per_sec']:.0f})",
          c["latency_achieved_per_sec"] <= c["latency_offered_per_sec"] * 1.01)
    # On a loaded host stalls may touch every sample of a 0.2 s phase: no clean percentiles.
    keys = ["latency_ns", "worker_latency_ns"]
    if c["clean_samples_share"] > 0:
        keys.append("clean_worker_latency_ns")
    for key in keys:
        p = c[key]
        check(f"{n}: {key} percentiles in order ({p})",
              0 < p["p50"] <= p["p90"] <= p["p99"] <= p["p999"])
    # The worker's part of a frame's latency ends before the generator reads it back.
    check(f"{n}: worker p50 <= end-to-end p50",
          c["worker_latency_ns"]["p50"] <= c["latency_ns"]["p50"])
    check(f"{n}: clean share in [0, 1] ({c['clean_samples_share']})",
          0 <= c["clean_samples_share"] <= 1)
    check(f"{n}: stall time only with stalls ({c['worker_stalls']}, {c['worker_stall_ms']} ms)",
          (c["worker_stalls"] == 0) == (c["worker_stall_ms"] == 0))

def run_json(what, args):
    """The bench with ARGS: its JSON line, parsed, or None (said as a failure)."""
    r = subprocess.run([bench, "--seconds", "0.2", "--json"] + args,
                       capture_output=True, text=True, timeout=120)
    check(f"{what}: the bench exited 0 ({r.returncode})", r.returncode == 0)
    json_lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    check(f"{what}: it printed one JSON line", len(json_lines) == 1)
    if len(json_lines) != 1:
        print(r.stdout, r.stderr)
        return None
    return json.loads(json_lines[0])


# --saturated: a third phase, its fields present and consistent, every frame out; with the
# port marked as offloading the TX checksums (--tx-cksum nic), the path a NIC port takes.
sat = run_json("--saturated", ["--cases", "invite", "--saturated", "--tx-cksum", "nic"])
if sat is not None:
    check("--tx-cksum nic is in the JSON", sat.get("tx_cksum") == "nic")
    c = sat["cases"][0]
    check(f"--tx-cksum nic: what was processed came out ({c['out']} of {c['processed']})",
          c["out"] == c["processed"] and c["drops"] == 0)
    check(f"--saturated: frames processed ({c.get('saturated_processed')})",
          c.get("saturated_processed", 0) > 0)
    check(f"--saturated: all came out ({c.get('saturated_out')})",
          c.get("saturated_out") == c.get("saturated_processed"))
    check(f"--saturated: no drops ({c.get('saturated_drops')})", c.get("saturated_drops") == 0)
    check("--saturated: saturated_ns_per_msg is 1e9 / saturated_msgs_per_sec_per_worker",
          abs(c["saturated_ns_per_msg"] * c["saturated_msgs_per_sec_per_worker"] / 1e9 - 1) < 0.01)
# Without the flag the phase does not run.
check("no saturated fields without --saturated",
      not any(k.startswith("saturated") for k in d["cases"][0]))
check("no parallel fields without --generators",
      not any(k.startswith("parallel") for k in d["cases"][0]))

# --generators: two workers fed by two generator lcores of their own (five lcores: on a small
# machine they share its CPUs, which the bench allows and says). Every frame a generator
# offered was processed and came back to it, whichever worker took it.
par = run_json("--generators", ["--cases", "invite,mix", "--workers", "2", "--generators", "2"])
if par is not None:
    for c in par["cases"]:
        n = c["name"]
        check(f"--generators {n}: two generators ({c.get('generators')})",
              c.get("generators") == 2)
        check(f"--generators {n}: frames offered ({c.get('parallel_offered')})",
              c.get("parallel_offered", 0) > 0)
        check(f"--generators {n}: all came back ({c.get('parallel_out')} of "
              f"{c.get('parallel_offered')})", c.get("parallel_out") == c.get("parallel_offered"))
        check(f"--generators {n}: no drops ({c.get('parallel_drops')})",
              c.get("parallel_drops") == 0)
        check(f"--generators {n}: rates positive", c.get("parallel_wall_msgs_per_sec", 0) > 0
              and c.get("parallel_msgs_per_sec_per_worker", 0) > 0)
check("--generators more than --workers is refused",
      subprocess.run([bench, "--workers", "1", "--generators", "2"], capture_output=True,
                     timeout=60).returncode == 2)
sys.exit(1 if failures else 0)
