"""Identifiers: stable label fingerprints (alert identity) and new ids."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping


def labels_fingerprint(labels: Mapping[str, object]) -> str:
    """Stable hash of a label set: same labels, same identity, whatever their order."""
    canonical = json.dumps({str(k): str(v) for k, v in labels.items()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
