"""Canonical bytes and the EVM hash. Everything committed on chain is keccak256 of bytes
produced here, so one function decides how a record becomes bytes."""

from __future__ import annotations

import json
from typing import Any

from Crypto.Hash import keccak as _keccak
from pydantic import BaseModel


def keccak256(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same record always gives the same bytes."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_record(obj: Any) -> str:
    return to_hex(keccak256(canonical_json(obj)))


def to_hex(b: bytes) -> str:
    return "0x" + b.hex()


def from_hex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def name_id(name: str) -> str:
    """bytes32 id of a dataset or run name, as committed on chain."""
    return to_hex(keccak256(name.encode()))
