"""Opaque keyset page tokens.

A token is URL-safe base64 of ``{"v": 1, "k": kind, "b": binding, "p": position}``:
``position`` is the keyset of the last item served (never an offset), and ``binding`` a
digest of the request fields that define the listing (run, min_score, ...), so a token
cannot be replayed against another listing. Tokens are opaque to clients: their format
may change between versions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cib_detect.errors import FieldViolation, InvalidInput

MAX_TOKEN = 1024


def _binding(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(kind: str, fields: dict[str, Any], position: list[Any]) -> str:
    doc = {"v": 1, "k": kind, "b": _binding(fields), "p": position}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad(reason: str) -> InvalidInput:
    return InvalidInput(f"page_token: {reason}", violations=[FieldViolation("page_token", reason)])


def decode(
    token: str, kind: str, fields: dict[str, Any], shape: tuple[type, ...] = ()
) -> list[Any] | None:
    """The position of ``token`` (None for an empty token: the first page); with
    ``shape``, the position must hold exactly values of those types."""
    if not token:
        return None
    if len(token) > MAX_TOKEN:
        raise _bad("too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad("not a page token of this service") from None
    if not isinstance(doc, dict) or doc.get("v") != 1 or doc.get("k") != kind:
        raise _bad(f"not a {kind} page token")
    if doc.get("b") != _binding(fields):
        raise _bad("belongs to another listing: keep the request's other fields unchanged")
    position = doc.get("p")
    if not isinstance(position, list):
        raise _bad("malformed")
    if shape and (
        len(position) != len(shape)
        or not all(type(v) is t for v, t in zip(position, shape, strict=True))
    ):
        raise _bad("malformed")
    return position
