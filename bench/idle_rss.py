"""Benchmark: the memory a process holds once it has built the app with the default assistant
and offline understanding (no API key), by where the flow classifier comes from.

Each row is a fresh process that builds the app (``create_app``: SQLite in a temp folder, the
default assistant) and reports its peak RSS (``ru_maxrss``) and whether scikit-learn / SciPy
were imported. The baseline is fitting the classifier in the serving process, as before the
model cache (scikit-learn and SciPy stay in memory); the other rows are the cache (every start
after the first) and a cold cache (a child process fits, this one only reads the result).

    python bench/idle_rss.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, resource, sys
from pathlib import Path

mode, instance = sys.argv[1], sys.argv[2]
if mode == "in-process":  # the classifier fitted here, as before the cache
    from helpdesk.dialogue.generators import fitting, model_cache
    model_cache.fitted_arrays = lambda texts, labels, synonyms, c, cache_dir=None: fitting.fit(
        texts, labels, synonyms, c)
from helpdesk.app import create_app
from helpdesk.settings import Settings

settings = Settings(assistant="flows", instance_path=instance, database_url=f"sqlite:///{instance}/helpdesk.db",
                    anthropic_api_key=None)
create_app(settings)
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "sklearn": "sklearn" in sys.modules, "scipy": "scipy" in sys.modules}))
"""
MODES = ("in-process", "cache", "cold cache")


def measure(mode: str) -> dict[str, float | bool]:
    with tempfile.TemporaryDirectory() as instance:
        if mode == "cache":  # a first start fills the cache
            _run("cache", instance)
        return _run(mode, instance)


def _run(mode: str, instance: str) -> dict[str, float | bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "HELPDESK_"))}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, instance], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, check=True)
    result: dict[str, float | bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float | bool]]] = {mode: [] for mode in MODES}
    for _ in range(args.runs):  # alternate the modes: the machine's state changes over time
        for mode in MODES:
            rows[mode].append(measure(mode))
    baseline = statistics.median(float(r["rss_mb"]) for r in rows["in-process"])
    print(f"app built with the default assistant, offline understanding, {args.runs} runs each")
    print(f"{'classifier from':<14} {'RSS MB (median)':>16} {'min':>6} {'max':>6} {'ratio':>6}  sklearn/scipy imported")
    for mode, results in rows.items():
        values = [float(r["rss_mb"]) for r in results]
        imported = sorted({f"{r['sklearn']}/{r['scipy']}" for r in results})
        print(f"{mode:<14} {statistics.median(values):>16.1f} {min(values):>6.1f} {max(values):>6.1f} "
              f"{statistics.median(values) / baseline:>6.2f}  {', '.join(imported)}")


if __name__ == "__main__":
    main()
