"""Benchmark: the engine alone, this code against another checkout, in lockstep.

Two child processes (one per checkout, each importing its own code and its own ``flows/``) run
``bench/engine_turns.py``'s script one whole conversation (24 turns) at a time, taking turns
(A B B A A B …), so both meet the same machine load; on a shared, noisy machine that compares
two versions far more fairly than two runs one after the other. Prints p50 / p99 of the turns
that ``engine_turns.py`` samples at turn 5 (script messages 2–6) and at turn 500 (5–9; the state a
turn loads stops growing after 10 turns), wall clock and process CPU, and the ratio this / other.

    python bench/engine_ab.py /tmp/other-checkout [--conversations 150]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WINDOWS = {"turn 5": range(2, 7), "turn 500": range(5, 10)}
TURNS = 24


def child() -> None:
    """Serve conversations of the script given as JSON: one per "go" line on stdin, then the
    timings as JSON."""
    script = json.loads(sys.argv[sys.argv.index("--child") + 1])
    from helpdesk.dialogue.assistant import load_assistant
    from helpdesk.dialogue.engine import UserMessage
    from helpdesk.services import build_engine
    from helpdesk.settings import Settings

    settings = Settings(assistant=str(Path.cwd() / "flows"), instance_path=tempfile.mkdtemp())
    engine = build_engine(settings, load_assistant(settings.assistant))
    times: dict[str, dict[int, list[float]]] = {"wall": {}, "cpu": {}}
    print("ready", flush=True)
    for count, _ in enumerate(iter(sys.stdin.readline, "done\n")):
        state = None
        for turn in range(TURNS):
            index = turn % len(script)
            used = time.process_time()
            started = time.perf_counter()
            state = engine.handle(state, UserMessage(script[index], f"c{count}")).state
            wall = (time.perf_counter() - started) * 1000
            if count >= 3:  # warm-up conversations left out
                times["wall"].setdefault(index, []).append(wall)
                times["cpu"].setdefault(index, []).append((time.process_time() - used) * 1000)
        print("ok", flush=True)
    print(json.dumps(times), flush=True)


def start(root: Path) -> subprocess.Popen[str]:
    from engine_turns import SCRIPT  # this folder's: the same script for both checkouts

    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(SCRIPT)], cwd=root,
                               env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="another checkout of the project (the baseline)")
    parser.add_argument("--conversations", type=int, default=150)
    args = parser.parse_args()
    processes = {"other": start(args.other.resolve()), "this": start(REPO)}
    for n in range(args.conversations):
        for name in ("this", "other") if n % 2 else ("other", "this"):
            pipe_in, pipe_out = processes[name].stdin, processes[name].stdout
            assert pipe_in is not None and pipe_out is not None
            pipe_in.write("go\n")
            pipe_in.flush()
            assert pipe_out.readline().strip() == "ok"
    results = {}
    for name, process in processes.items():
        out, _ = process.communicate("done\n", timeout=60)
        results[name] = json.loads(out.strip().splitlines()[-1])
    print(f"engine alone, lockstep, {args.conversations} conversations each; baseline {args.other}")
    print(f"{'where':<22} {'other p50':>9} {'this p50':>9} {'ratio':>6} {'other p99':>9} {'this p99':>9} {'ratio':>6}")
    for kind in ("wall", "cpu"):
        for window, indexes in WINDOWS.items():
            other, this = ([x for i in indexes for x in results[n][kind][str(i)]] for n in ("other", "this"))
            p50 = statistics.median(other), statistics.median(this)
            p99 = percentile(other, 99), percentile(this, 99)
            print(f"{kind + ', ' + window:<22} {p50[0]:>9.3f} {p50[1]:>9.3f} {p50[1] / p50[0]:>6.2f} "
                  f"{p99[0]:>9.3f} {p99[1]:>9.3f} {p99[1] / p99[0]:>6.2f}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
