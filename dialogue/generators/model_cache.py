"""Where a flow classifier's fitted arrays come from, so that a serving process never imports
scikit-learn, SciPy (about 100 MB of memory and seconds of import time) or numpy (~15 MB).

1. A cache file ``<key>.model`` in the cache folder (the instance folder's ``nlu-cache/``), keyed
   by a hash of the training data, the fitting code and scikit-learn's version: read with the
   standard library alone and checked; a broken or foreign file is trained again. The file is a
   zip archive (stored, not compressed) of ``header.json`` (format, key, labels, vocabularies,
   synonyms) and the arrays as raw little-endian float64 (``idf.f64``, ``coef.f64``,
   ``intercept.f64``, laid out as :class:`~dialogue.generators.classifier.ModelArrays` describes).
   Files of the first format (``<key>.npz``, numpy's) are never read: the key changed with the
   format, and they are deleted when the folder is pruned.
2. Otherwise a child process fits the model (``python -m dialogue.generators.fitting``, the
   training data as JSON on its stdin, the file's bytes on its stdout, with a timeout) and the
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
import zlib
from array import array
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from helpdesk.dialogue.generators.classifier import CHAR_NGRAMS, TOKEN_PATTERN, WORD_NGRAMS, ModelArrays

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: processes may train the same model twice
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: bump when the file layout changes (the key changes with it); 1 was numpy's ``.npz``
FORMAT_VERSION = 2
#: the cache files' suffix (``.npz`` before format 2)
SUFFIX = ".model"
#: the archive's members holding :class:`ModelArrays`' arrays (``<name>.f64``)
ARRAYS = ("idf", "coef", "intercept")
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
    path = folder / f"{key}{SUFFIX}"
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
    """The model file's bytes a child process fits for ``request``."""
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
    """The model file of a fitted model: a zip archive of a JSON header (vocabularies, labels) and
    its arrays as raw little-endian float64."""
    header = {"format": FORMAT_VERSION, "key": key, "labels": arrays.labels, "word_terms": arrays.word_terms,
              "char_terms": arrays.char_terms, "synonyms": arrays.synonyms}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("header.json", json.dumps(header))
        for name in ARRAYS:
            archive.writestr(f"{name}.f64", _little_endian(getattr(arrays, name)))
    return buffer.getvalue()


def _decode(data: bytes, key: str | None) -> ModelArrays:
    """The model in a model file's bytes; ValueError when it is not a whole, consistent model (for
    ``key``, when given)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            header = json.loads(archive.read("header.json"))
            if header.get("format") != FORMAT_VERSION or (key is not None and header.get("key") != key):
                raise ValueError("a model of another version or other training data")
            idf, coef, intercept = (_doubles(archive.read(f"{name}.f64")) for name in ARRAYS)
        labels, words, chars, synonyms = header["labels"], header["word_terms"], header["char_terms"], \
            header["synonyms"]
    except (OSError, KeyError, ValueError, TypeError, AttributeError, EOFError, NotImplementedError, zlib.error,
            zipfile.BadZipFile) as exc:
        raise ValueError(f"not a usable flow classifier model: {exc}") from exc
    columns = len(words) + len(chars)
    if len(idf) != columns or len(coef) != columns * len(labels) or len(intercept) != len(labels):
        raise ValueError("a model whose arrays do not fit its vocabularies")
    return ModelArrays(labels=labels, word_terms=words, char_terms=chars, idf=idf, coef=coef,
                       intercept=intercept, synonyms=synonyms)


def _little_endian(values: array[float]) -> bytes:
    """``values`` as little-endian float64 bytes, whatever this machine's byte order."""
    if sys.byteorder == "big":
        values = array("d", values)
        values.byteswap()
    return values.tobytes()


def _doubles(data: bytes) -> array[float]:
    """Little-endian float64 bytes as an ``array("d")``; ValueError when their length is not a
    multiple of 8."""
    values = array("d")
    values.frombytes(data)  # ValueError: not a multiple of 8 bytes
    if sys.byteorder == "big":
        values.byteswap()
    return values


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
    """Keep the :data:`KEEP_FILES` newest models (and their lock files); delete files of the first
    format (``.npz``), which no key names any more."""
    with contextlib.suppress(OSError):
        models = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in [*models[KEEP_FILES:], *folder.glob("*.npz")]:
            old.unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)
