"""Schema-versioned JSON documents (alignments, face sets, selections, manifests). Never pickle."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faceplate.errors import FaceplateError
from faceplate.plates.atomic import write_text_atomic


def dump_json(path: Path | str, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically as pretty, key-sorted JSON (deterministic bytes)."""
    write_text_atomic(path, json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n", "JSON file")


def load_json(path: Path | str, schema: str, max_version: int, error: type[FaceplateError]) -> dict[str, Any]:
    """Load a document whose ``schema`` and ``version`` fields must match; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: file not found (expected a {schema} document)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: expected JSON ({schema}), found unreadable content ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise error(f"{path}: expected a {schema} document, found schema {found!r}")
    version = doc.get("version")
    if not isinstance(version, int) or not 1 <= version <= max_version:
        raise error(f"{path}: expected {schema} version 1..{max_version}, found {version!r}")
    return doc
