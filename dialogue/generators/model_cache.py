"""Where a flow classifier's fitted arrays come from, so that a serving process never imports
scikit-learn or SciPy (about 100 MB of memory and seconds of import time).

1. A cache file ``<key>.npz`` in the cache folder (the instance folder's ``nlu-cache/``), keyed by
   a hash of the training data, the fitting code and scikit-learn's version: loaded with numpy
   alone (``allow_pickle=False``) and checked; a broken or foreign file is trained again.
2. Otherwise a child process fits the model (``python -m dialogue.generators.fitting``, the
   training data as JSON on its stdin, the ``.npz`` bytes on its stdout, with a timeout) and the
   file is written to a temporary name and renamed into place, so a process never reads half a
   file. Processes starting together train once: the others wait on a lock file, then read.

A cache folder that cannot be created or written falls back to a folder in the system's temp
directory, and without any usable folder the model is trained in a child process each time —
both with a log line. A child that fails or times out raises :class:`TrainingError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from helpdesk.dialogue.generators.classifier import CHAR_NGRAMS, TOKEN_PATTERN, WORD_NGRAMS, ModelArrays

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: processes may train the same model twice
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: bump when the file layout changes (the key changes with it)
FORMAT_VERSION = 1
#: seconds a child process may take to import scikit-learn and fit (a loaded 2-core machine
#: needs a few seconds for the default assistant)
TRAIN_TIMEOUT = 180.0
#: cache files kept per folder (the newest; one per assistant version)
KEEP_FILES = 16
CHILD_MODULE = "helpdesk.dialogue.generators.fitting"
_CODE = (Path(__file__).with_name("fitting.py"), Path(__file__).with_name("classifier.py"))


class TrainingError(RuntimeError):
    """The child process that fits the flow classifier failed or timed out."""


def fitted_arrays(texts: list[str], labels: list[str], synonyms: dict[str, str], c: float, *,
                  cache_dir: Path | None = None) -> ModelArrays:
    """The fitted model for this training data: from the cache, or fitted by a child process
    (and then cached). ``cache_dir`` None uses a folder in the system's temp directory."""
    request = {"texts": texts, "labels": labels, "synonyms": synonyms, "c": c}
    key = cache_key(request)
    folder = usable_folder(cache_dir)
    if folder is None:
        return _decode(_train(request), key)
    path = folder / f"{key}.npz"
    with _locked(folder / f"{key}.lock"):
        arrays = _read(path, key)
        if arrays is not None:
            log.info("dialogue.nlu.model_loaded", extra={"path": str(path)})
            return arrays
        data = _train(request)
        arrays = _decode(data, key)
        _write(path, data)
    _prune(folder)
    return arrays


def cache_key(request: dict[str, Any]) -> str:
    """A hash of the training data, the n-gram settings, the fitting code and scikit-learn's
    version (read from its metadata: nothing is imported)."""
    try:
        sklearn = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        sklearn = "missing"
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT_VERSION, sklearn, WORD_NGRAMS, CHAR_NGRAMS, TOKEN_PATTERN, request],
                             sort_keys=True).encode())
    for source in _CODE:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:32]


def usable_folder(wanted: Path | None) -> Path | None:
    """``wanted`` (created if missing) when it can be written, else a folder in the temp
    directory, else None (each with a log line)."""
    fallback = Path(tempfile.gettempdir()) / f"helpdesk-nlu-cache-{_user()}"
    for folder in ([wanted] if wanted is not None else []) + [fallback]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
                pass
        except OSError as exc:
            log.warning("dialogue.nlu.cache_unusable", extra={"folder": str(folder), "error": str(exc)})
            continue
        if wanted is not None and folder != wanted:
            log.warning("dialogue.nlu.cache_fallback", extra={"folder": str(folder), "wanted": str(wanted)})
        return folder
    log.warning("dialogue.nlu.cache_none", extra={"effect": "the model is trained at every start"})
    return None


def _user() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else "user"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (POSIX ``flock``), released on exit."""
    if fcntl is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _train(request: dict[str, Any]) -> bytes:
    """The ``.npz`` bytes a child process fits for ``request``."""
    root = Path(__file__).resolve().parents[2]  # ``-m`` imports from here first: this very code
    command = [sys.executable, "-m", CHILD_MODULE]
    try:
        done = subprocess.run(command, input=json.dumps(request).encode(), capture_output=True, cwd=root,
                              timeout=TRAIN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise TrainingError(f"training the flow classifier ({' '.join(command)}) took longer than "
                            f"{TRAIN_TIMEOUT:g} s") from None
    except OSError as exc:
        raise TrainingError(f"cannot start {' '.join(command)}: {exc}") from exc
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise TrainingError(f"training the flow classifier ({' '.join(command)}) failed with exit code "
                            f"{done.returncode}: {lines[-1] if lines else 'no output'}")
    log.info("dialogue.nlu.model_trained", extra={"texts": len(request["texts"])})
    return done.stdout


def encode(arrays: ModelArrays, key: str) -> bytes:
    """The ``.npz`` file of a fitted model: its arrays and a JSON header (vocabularies, labels)."""
    header = {"format": FORMAT_VERSION, "key": key, "labels": arrays.labels, "word_terms": arrays.word_terms,
              "char_terms": arrays.char_terms, "synonyms": arrays.synonyms}
    buffer = io.BytesIO()
    np.savez(buffer, idf=arrays.idf, coef=arrays.coef, intercept=arrays.intercept,
             header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    return buffer.getvalue()


def _decode(data: bytes, key: str | None) -> ModelArrays:
    """The model in ``.npz`` bytes; ValueError when it is not a whole, consistent model (for
    ``key``, when given)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            header = json.loads(npz["header"].tobytes())
            idf, coef, intercept = npz["idf"], npz["coef"], npz["intercept"]
        if header.get("format") != FORMAT_VERSION or (key is not None and header.get("key") != key):
            raise ValueError("a model of another version or other training data")
        labels, words, chars, synonyms = header["labels"], header["word_terms"], header["char_terms"], \
            header["synonyms"]
    except (OSError, KeyError, ValueError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a usable flow classifier model: {exc}") from exc
    columns = len(words) + len(chars)
    if idf.shape != (columns,) or coef.shape != (columns, len(labels)) or intercept.shape != (len(labels),):
        raise ValueError("a model whose arrays do not fit its vocabularies")
    return ModelArrays(labels=labels, word_terms=words, char_terms=chars, idf=idf, coef=coef,
                       intercept=intercept, synonyms=synonyms)


def _read(path: Path, key: str) -> ModelArrays | None:
    """The cached model, or None when there is none or it is unusable (then it is replaced)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("dialogue.nlu.cache_unreadable", extra={"path": str(path), "error": str(exc)})
        return None
    try:
        return _decode(data, key)
    except ValueError as exc:
        log.warning("dialogue.nlu.cache_broken", extra={"path": str(path), "error": str(exc)})
        return None


def _write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it into place (atomic)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("dialogue.nlu.cache_not_written", extra={"path": str(path), "error": str(exc)})
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _prune(folder: Path) -> None:
    """Keep the :data:`KEEP_FILES` newest models (and their lock files)."""
    with contextlib.suppress(OSError):
        models = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in models[KEEP_FILES:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)
