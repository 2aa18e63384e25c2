"""Seeds derived from names, so that adding a random consumer never shifts another one's stream."""
from __future__ import annotations

import hashlib


def seed_hash(*parts: object) -> int:
    """A 31-bit seed from the repr of ``parts`` (stable across processes and platforms)."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF
