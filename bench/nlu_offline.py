"""Benchmark: offline understanding's flow classifier, chosen by measurement.

Compares, on the default assistant's held-out tuning set (first messages only), the classifier
the offline generator uses (TF-IDF word + character n-grams, logistic regression, scikit-learn)
with the alternative the issue named: the nearest training example by fuzzy matching
(rapidfuzz ``token_set_ratio``, cut-off 60: the best of its scorers and cut-offs on this set;
``WRatio`` gets 23 %), over the same training texts. Prints accuracy and prediction latency for both
(the fuzzy matcher is the baseline of the ratio), then the load time: importing scikit-learn in a
fresh process, training (in a child process, which imports scikit-learn) and reading the cached
model, for the default assistant and for a synthetic 30-flow assistant (30 examples per flow),
each against loading that assistant's YAML in the same run (the ratio: cached / YAML).

    python bench/nlu_offline.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rapidfuzz import fuzz, process, utils

from helpdesk.dialogue.assistant import load_assistant
from helpdesk.dialogue.generators import classifier as classifier_module
from helpdesk.dialogue.generators.classifier import OUT_OF_SCOPE, FlowClassifier
from helpdesk.dialogue.generators.evaluation import load_cases
from helpdesk.dialogue.generators.training import collect_training_data

REPO = Path(__file__).resolve().parents[1]
FUZZY_CUTOFF = 60.0
VERBS = ("cancel", "renew", "upgrade", "pause", "transfer", "close")
OBJECTS = ("subscription", "insurance policy", "phone plan", "gym membership", "savings account")
TEMPLATES = ("I want to {v} my {o}", "how do I {v} my {o}?", "please {v} the {o}", "can you {v} my {o}",
             "I'd like to {v} my {o} today", "help me {v} my {o}", "{v} {o}", "is it possible to {v} my {o}",
             "I need to {v} the {o} I have", "need to {v} {o} asap")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(predict, messages: list[str]) -> tuple[list[str], list[float]]:  # type: ignore[no-untyped-def]
    labels, times = [], []
    for message in messages:
        started = time.perf_counter()
        labels.append(predict(message))
        times.append((time.perf_counter() - started) * 1000)
    return labels, times


def compare() -> None:
    assistant = load_assistant(REPO / "flows")
    data = collect_training_data(assistant.flows, assistant.path)
    model = FlowClassifier.train(data.texts, data.labels, synonyms=data.classifier_synonyms())
    cases = [c for c in load_cases([REPO / "tests" / "nlu" / "heldout_tune.yml"]) if not c.before]
    messages = [c.text for c in cases]
    expected = [c.expect if c.expect in set(data.labels) else OUT_OF_SCOPE for c in cases]

    def classify(text: str) -> str:
        label, probability = model.predict(text).best
        return label if probability >= 0.4 else OUT_OF_SCOPE

    def nearest(text: str) -> str:
        found = process.extractOne(text, data.texts, scorer=fuzz.token_set_ratio, score_cutoff=FUZZY_CUTOFF,
                                   processor=utils.default_process)
        return data.labels[found[2]] if found else OUT_OF_SCOPE

    print(f"flow classification, {len(messages)} first messages of heldout_tune.yml, "
          f"{len(data.texts)} training texts")
    print(f"{'method':<44} {'accuracy':>8} {'p50 ms':>8} {'p99 ms':>8}")
    results = {}
    for name, predict in (("nearest example, rapidfuzz (baseline)", nearest),
                          ("TF-IDF word+char n-grams, logistic regression", classify)):
        for message in messages[:5]:
            predict(message)  # warm up
        labels, times = timed(predict, messages)
        accuracy = sum(a == b for a, b in zip(labels, expected, strict=True)) / len(expected)
        results[name] = statistics.median(times)
        print(f"{name:<44} {accuracy:>8.1%} {statistics.median(times):>8.3f} {percentile(times, 99):>8.3f}")
    base, ours = results.values()
    print(f"prediction p50 ratio classifier / baseline: {ours / base:.2f}")


def synthetic(folder: Path, flows: int) -> Path:
    lines = ["flows:"]
    for i in range(flows):
        verb, obj = VERBS[i % len(VERBS)], OBJECTS[(i // len(VERBS)) % len(OBJECTS)]
        examples = [t.format(v=verb, o=obj) + ("" if k < len(TEMPLATES) else f" ({k})")
                    for k, t in enumerate(TEMPLATES * 3)]
        lines += [f"  {verb}_{obj.replace(' ', '_')}:", f"    description: The customer wants to {verb} their {obj}.",
                  "    metadata:", "      examples:", *(f'        - "{e}"' for e in examples),
                  "    steps:", f"      - action: utter_{i}"]
    (folder / "flows.yml").write_text("\n".join(lines) + "\n")
    return folder


def load_times() -> None:
    code = "import time; t = time.perf_counter(); import sklearn.linear_model, sklearn.feature_extraction.text; " \
           "print(time.perf_counter() - t)"
    imported = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    print(f"\nimport scikit-learn (fresh process, once per process): {imported:.2f} s")
    print(f"{'assistant':<28} {'texts':>6} {'load YAML s':>11} {'train s':>8} {'cached s':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in (("default (10 flows)", REPO / "flows"), ("synthetic, 30 flows", synthetic(Path(tmp), 30))):
            started = time.perf_counter()
            assistant = load_assistant(folder, validate=False, load_actions=False)
            loaded = time.perf_counter() - started
            data = collect_training_data(assistant.flows, folder)
            cache = Path(tempfile.mkdtemp(dir=tmp))
            times = []
            for _ in range(2):  # a child process fits and caches; then the cache is read
                classifier_module._TRAINED.clear()
                started = time.perf_counter()
                FlowClassifier.train(data.texts, data.labels, synonyms=data.classifier_synonyms(), cache_dir=cache)
                times.append(time.perf_counter() - started)
            trained, cached = times
            print(f"{name:<28} {len(data.texts):>6} {loaded:>11.2f} {trained:>8.2f} {cached:>8.2f} "
                  f"{cached / loaded:>6.2f}")

if __name__ == "__main__":
    compare()
    load_times()
