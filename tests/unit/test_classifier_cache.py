"""The flow classifier is fitted by a child process and cached: a serving process loads it with
the standard library alone (no scikit-learn, SciPy or numpy), reuses the cache, survives a broken
cache, an unusable cache folder and two processes starting at once, and says clearly when the
child fails."""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpdesk.dialogue.generators import classifier, model_cache
from helpdesk.dialogue.generators.classifier import OUT_OF_SCOPE, FlowClassifier

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["where is my order", "has my parcel shipped", "cancel my order", "I want to cancel", "tell me a joke",
         "what's the weather"]
LABELS = ["status", "status", "cancel", "cancel", OUT_OF_SCOPE, OUT_OF_SCOPE]


@pytest.fixture(autouse=True)
def fresh_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test trains or loads for itself (the process keeps models by their data)."""
    monkeypatch.setattr(classifier, "_TRAINED", {})


def train(cache: Path | None) -> FlowClassifier:
    classifier._TRAINED.clear()
    return FlowClassifier.train(TEXTS, LABELS, cache_dir=cache)


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == model_cache.__name__]


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


SERVE = """
import json, sys
from pathlib import Path
from helpdesk.dialogue.assistant import load_assistant
from helpdesk.dialogue.tracker import DialogueTracker
from helpdesk.services import build_engine
from helpdesk.settings import Settings

settings = Settings(assistant="flows", instance_path=sys.argv[1], anthropic_api_key=None)
engine = build_engine(settings, load_assistant(settings.assistant))
tracker = DialogueTracker.from_state("t", None, engine.assistant.domain)
scores = engine.generator.scores("where is my order", tracker)
print(json.dumps({"sklearn": "sklearn" in sys.modules, "scipy": "scipy" in sys.modules,
                  "numpy": "numpy" in sys.modules, "scores": [[s.flow_id, s.score] for s in scores]}))
"""


def test_a_serving_process_imports_neither_scikit_learn_nor_scipy_nor_numpy(tmp_path: Path) -> None:
    results = []
    for _ in range(2):  # trained by the child process, then read from the cache
        process = run_python(SERVE, str(tmp_path))
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    for result in results:
        assert result["sklearn"] is False and result["scipy"] is False and result["numpy"] is False
    assert results[0]["scores"] == results[1]["scores"]
    assert results[0]["scores"][0][0] == "check_order_status"
    assert len(list((tmp_path / "nlu-cache").glob("*.model"))) == 1


APP = """
import json, sys
from helpdesk.app import create_app
from helpdesk.settings import Settings

instance = sys.argv[1]
create_app(Settings(assistant="flows", instance_path=instance, database_url=f"sqlite:///{instance}/helpdesk.db",
                    anthropic_api_key=None))
print(json.dumps({name: name in sys.modules for name in ("numpy", "sklearn", "scipy")}))
"""


def test_a_built_app_imports_no_numpy(tmp_path: Path) -> None:
    """The app with the default assistant and offline understanding (as bench/idle_rss.py builds
    it): numpy would cost every serving process ~15 MB."""
    for _ in range(2):  # a cold cache (a child process fits), then the cache
        process = run_python(APP, str(tmp_path))
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {"numpy": False, "sklearn": False, "scipy": False}
    assert len(list((tmp_path / "nlu-cache").glob("*.model"))) == 1


def test_the_cache_is_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=model_cache.__name__)
    first = train(tmp_path).predict("where is my parcel").ranked
    assert events(caplog) == ["dialogue.nlu.model_trained"]
    caplog.clear()
    assert train(tmp_path).predict("where is my parcel").ranked == first
    assert events(caplog) == ["dialogue.nlu.model_loaded"]
    assert first[0][0] == "status"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other data"])
def test_a_broken_or_foreign_cache_file_is_trained_again(tmp_path: Path, damage: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    expected = train(tmp_path).predict("cancel it please").ranked
    (path,) = tmp_path.glob("*.model")
    if damage == "garbage":
        path.write_bytes(b"not a model")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:  # a whole model of other training data under this name
        classifier._TRAINED.clear()
        FlowClassifier.train(TEXTS[:4], LABELS[:4], cache_dir=tmp_path)
        other = next(p for p in tmp_path.glob("*.model") if p != path)
        path.write_bytes(other.read_bytes())
    caplog.set_level(logging.INFO, logger=model_cache.__name__)
    assert train(tmp_path).predict("cancel it please").ranked == expected
    assert events(caplog) == ["dialogue.nlu.cache_broken", "dialogue.nlu.model_trained"]
    caplog.clear()
    train(tmp_path)
    assert events(caplog) == ["dialogue.nlu.model_loaded"]


def test_a_file_of_the_first_format_is_trained_again_and_old_files_are_deleted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Format 1 was numpy's ``.npz`` (a zip archive too): under the current name it is a broken
    file, and files left under their old names are deleted when the folder is pruned."""
    import numpy as np

    expected = train(tmp_path).predict("cancel it please").ranked
    (path,) = tmp_path.glob("*.model")
    header = {"format": 1, "key": path.stem, "labels": ["cancel", "status"], "word_terms": ["cancel"],
              "char_terms": [], "synonyms": {}}
    for target in (path, tmp_path / "0123456789abcdef0123456789abcdef.npz"):
        with target.open("wb") as file:
            np.savez(file, idf=np.ones(1), coef=np.zeros((1, 2)), intercept=np.zeros(2),
                     header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    caplog.set_level(logging.INFO, logger=model_cache.__name__)
    assert train(tmp_path).predict("cancel it please").ranked == expected
    assert events(caplog) == ["dialogue.nlu.cache_broken", "dialogue.nlu.model_trained"]
    assert "no item named 'header.json'" in caplog.records[0].__dict__["error"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [path.name]
    caplog.clear()
    train(tmp_path)
    assert events(caplog) == ["dialogue.nlu.model_loaded"]


def test_the_file_holds_little_endian_doubles(tmp_path: Path) -> None:
    """Readable on any machine: the arrays are stored little-endian, whatever the byte order."""
    model = train(tmp_path)
    (path,) = tmp_path.glob("*.model")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["coef.f64", "header.json", "idf.f64", "intercept.f64"]
        raw = archive.read("intercept.f64")
    assert list(struct.unpack(f"<{len(raw) // 8}d", raw)) == list(model.arrays.intercept)
    assert model_cache._decode(path.read_bytes(), path.stem) == model.arrays


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_encoding_round_trips_in_either_byte_order(byteorder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a big-endian machine the arrays are swapped into a copy (the model's own stay as they are)."""
    arrays = train(None).arrays
    before = arrays.coef.tobytes()
    monkeypatch.setattr(sys, "byteorder", byteorder)
    data = model_cache.encode(arrays, "k")
    assert arrays.coef.tobytes() == before
    assert model_cache._decode(data, "k") == arrays
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        stored = archive.read("coef.f64")
    assert (stored == before) is (byteorder == "little")  # swapped where the machine says it is big-endian


def test_an_unusable_cache_folder_falls_back_to_the_temp_directory(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "instance"
    blocker.write_text("a file where the instance folder should be")
    caplog.set_level(logging.INFO, logger=model_cache.__name__)
    model = train(blocker / "nlu-cache")
    assert model.predict("cancel my order").best[0] == "cancel"
    assert events(caplog)[:2] == ["dialogue.nlu.cache_unusable", "dialogue.nlu.cache_fallback"]
    assert model_cache.usable_folder(None) is not None


def test_without_any_usable_folder_the_child_still_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(model_cache.tempfile, "tempdir", str(blocker))
    caplog.set_level(logging.INFO, logger=model_cache.__name__)
    assert train(blocker / "cache").predict("cancel my order").best[0] == "cancel"
    assert "dialogue.nlu.cache_none" in events(caplog)
    assert "dialogue.nlu.model_trained" in events(caplog)


CONCURRENT = """
import json, logging, sys
from pathlib import Path
from helpdesk.dialogue.generators.classifier import FlowClassifier
seen = []
handler = logging.Handler()
handler.emit = lambda record: seen.append(record.getMessage())
logging.getLogger("helpdesk.dialogue.generators.model_cache").addHandler(handler)
logging.getLogger("helpdesk.dialogue.generators.model_cache").setLevel(logging.INFO)
texts, labels = json.loads(sys.argv[2])
model = FlowClassifier.train(texts, labels, cache_dir=Path(sys.argv[1]))
print(json.dumps({"events": seen, "ranked": model.predict("is my parcel shipped").ranked,
                  "sklearn": "sklearn" in sys.modules}))
"""


def test_processes_starting_together_train_once_and_never_read_half_a_file(tmp_path: Path) -> None:
    data = json.dumps([TEXTS, LABELS])
    processes = [run_python(CONCURRENT, str(tmp_path), data) for _ in range(3)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["events"][-1] for r in results) == ["dialogue.nlu.model_loaded"] * 2 + [
        "dialogue.nlu.model_trained"]
    assert all(r["ranked"] == results[0]["ranked"] and not r["sklearn"] for r in results)
    assert [p.suffix for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [".model"]


def test_a_failing_child_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_cache, "CHILD_MODULE", "dialogue.generators.no_such_module")
    with pytest.raises(model_cache.TrainingError, match=r"failed with exit code 1: .*No module named"):
        train(tmp_path)
    assert not list(tmp_path.glob("*.model"))


def test_a_child_that_takes_too_long_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_cache, "TRAIN_TIMEOUT", 0.05)
    with pytest.raises(model_cache.TrainingError, match=r"took longer than 0.05 s"):
        train(tmp_path)


def test_the_cache_key_follows_the_training_data() -> None:
    request = {"texts": TEXTS, "labels": LABELS, "synonyms": {}, "c": 50.0}
    assert model_cache.cache_key(request) == model_cache.cache_key(json.loads(json.dumps(request)))
    assert model_cache.cache_key(request) != model_cache.cache_key({**request, "c": 3.0})
    assert model_cache.cache_key(request) != model_cache.cache_key({**request, "synonyms": {"pw": "password"}})
