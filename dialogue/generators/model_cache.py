"""Where a flow classifier's fitted arrays come from."""

from __future__ import annotations

from pathlib import Path

from dialogue.generators.classifier import ModelArrays


def fitted_arrays(texts: list[str], labels: list[str], synonyms: dict[str, str], c: float, *,
                  cache_dir: Path | None = None) -> ModelArrays:
    """The fitted model for this training data."""
    from dialogue.generators.fitting import fit

    return fit(texts, labels, synonyms, c)
