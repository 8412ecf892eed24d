"""Profile the helpdesk serving widget messages, end to end, with py-spy.

Starts the helpdesk (``--mode``, SQLite, offline understanding) in its own process, attaches
``py-spy record --gil`` (samples of the thread holding the GIL: where Python code runs; time in
C code that releases the GIL, like SQLite, and in the kernel is not seen) while ``--clients``
visitors send nonstop for ``--duration`` seconds, and prints the functions that take the largest
share of the samples, inclusive (the function and what it calls) and by themselves. The raw
collapsed stacks stay in a temporary folder (``--keep FILE`` copies them out, e.g. for a flame
graph: never commit it).

    python bench/profile_widget.py [--clients 50] [--duration 20] [--mode threading] [--top 40] [--keep FILE]
                                   [--llm 1.5]

``--llm SECONDS`` profiles the LLM path instead: ``ANTHROPIC_API_KEY`` set, the loopback Claude fake
answering each call after SECONDS, the text-only script of ``bench/llm_turns.py``.

Needs py-spy (``pip install -e '.[bench]'``) and permission to ptrace the server (root, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import start, stop  # noqa: E402
from widget_load import Result, load  # noqa: E402


def summarise(raw: Path, top: int, match: str) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{total} samples holding the GIL")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}: % of samples")
        shown = 0
        for frame, count in counter.most_common():
            if match and match not in frame:
                continue
            print(f"{count * 100 / total:6.1f}  {frame}")
            shown += 1
            if shown >= top:
                break


def _short(frame: str) -> str:
    """``func (path/to/site-packages/pkg/mod.py:12)`` → ``func (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3", "/perf/", "/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--mode", default="threading")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only list frames containing this text")
    parser.add_argument("--keep", help="copy the raw collapsed stacks to this file")
    parser.add_argument("--llm", help="profile the LLM path, the fake answering after this many seconds")
    args = parser.parse_args()
    env, fake, script = {}, None, None
    if args.llm:
        import llm_turns

        fake, url = llm_turns.start_fake(args.llm)
        env, script = {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "bench-key"}, llm_turns.SCRIPT
    try:
        profile(args, env, script)
    finally:
        if fake is not None:
            fake.communicate("", timeout=10)


def profile(args: argparse.Namespace, env: dict[str, str], script: list[dict[str, str]] | None) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory() as folder:
        process, url = start("helpdesk", args.mode, folder, connections=args.clients + 100, env=env)
        raw = Path(folder) / "profile.txt"
        try:
            time.sleep(1.0)
            recorder = subprocess.Popen([spy, "record", "--gil", "--format", "raw", "--rate", "200", "--output",
                                         str(raw), "--pid", str(process.pid), "--duration",
                                         str(int(args.duration + 2))], stdout=subprocess.DEVNULL)
            result = Result("helpdesk", args.mode, "saturation", args.clients)
            if script:
                result.script = script
            asyncio.run(load(url, result, process.pid, args.duration, 0.0))
            recorder.wait(timeout=60)
        finally:
            stop(process)
        print(f"{len(result.in_window)} messages answered in {args.duration:g} s "
              f"({result.rate:.0f}/s), server CPU {result.cpu_ms('server'):.2f} ms per message")
        summarise(raw, args.top, args.match)
        if args.keep:
            shutil.copy(raw, args.keep)


if __name__ == "__main__":
    main()
