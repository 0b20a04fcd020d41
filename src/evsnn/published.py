"""Published numbers as data: each task package's ``published.yaml`` (read without pandas or torch, so config
validation can check ``compare_with`` against it)."""
from __future__ import annotations

from pathlib import Path

import yaml

#: the keys of one published number (a task package's published.yaml); other keys are table columns (modality ...)
PUBLISHED_KEYS = ("model", "column", "value", "unit", "protocol", "source", "verified")


def load_published(path: str | Path) -> list[dict]:
    """The published numbers of a task (its ``published.yaml``): a list of entries with ``model`` (who published
    it), ``column`` (the results-table column it belongs to), ``value``, ``unit``, ``protocol`` (split / protocol),
    ``source`` (paper table or repository file and commit) and ``verified`` (read in that source)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path) as fh:
        entries = yaml.safe_load(fh) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: published numbers must be a list of entries")
    for i, e in enumerate(entries):
        missing = [k for k in ("model", "column", "value", "source", "verified") if k not in e]
        if missing:
            raise ValueError(f"{path}: entry {i} ({e.get('model', '?')}) lacks {', '.join(missing)}")
        if not isinstance(e["value"], (int, float)):
            raise ValueError(f"{path}: entry {i} ({e['model']}) has a non-numeric value {e['value']!r}")
    return entries


def published_models(task) -> list[str]:
    """The names of the published results of a task (its published.yaml's ``model`` values), in file order."""
    entries = load_published(task.path(task.published)) if task.published else []
    return list(dict.fromkeys(e["model"] for e in entries))


