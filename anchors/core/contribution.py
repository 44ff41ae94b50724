"""A contributor's signature over a shard (laas-contribution-v1): EIP-712 typed data that a
wallet signs with eth_signTypedData_v4, and its digest, computed here with keccak alone (the
signature is recovered in laas.anchors.adapters.keys; tests pin both to eth_account's).

    domain  EIP712Domain(string name, string version) = ("laas-contribution", "1")
    message Contribution(string dataset, string key, bytes32 rawContentHash)

The dataset name, the shard's key and its raw content hash (laas-bytes-v1, what the raw stage
commits) are all signed, so a signature made for one shard does not carry over to another
shard, another dataset, or other bytes under the same key. No chainId or contract: a
contribution is a statement about bytes, valid whichever chain laas commits it to.
"""

from __future__ import annotations

import re
from typing import Any

from laas.anchors.core.canonical import from_hex, keccak256

CONTRIBUTION_FORMAT = "laas-contribution-v1"  # the typed data below; a change is a new version
DOMAIN = {"name": "laas-contribution", "version": "1"}
TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
    "Contribution": [{"name": "dataset", "type": "string"}, {"name": "key", "type": "string"},
                     {"name": "rawContentHash", "type": "bytes32"}],
}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SIGNATURE = re.compile(r"^(0x)?[0-9a-fA-F]{130}$")


def _type_hash(name: str) -> bytes:
    fields = ",".join(f"{f['type']} {f['name']}" for f in TYPES[name])
    return keccak256(f"{name}({fields})".encode())


def typed_data(dataset: str, key: str, raw_content_hash: str) -> dict[str, Any]:
    """What the contributor's wallet is asked to sign (eth_signTypedData_v4's JSON)."""
    return {"types": TYPES, "primaryType": "Contribution", "domain": dict(DOMAIN),
            "message": {"dataset": dataset, "key": key, "rawContentHash": raw_content_hash}}


def contribution_digest(dataset: str, key: str, raw_content_hash: str) -> bytes:
    """keccak256(0x1901 || domainSeparator || hashStruct(Contribution)), as EIP-712 defines."""
    content = from_hex(raw_content_hash)
    if len(content) != 32:
        raise ValueError("raw content hash must be 32 bytes")
    domain = keccak256(_type_hash("EIP712Domain") + keccak256(DOMAIN["name"].encode())
                       + keccak256(DOMAIN["version"].encode()))
    struct = keccak256(_type_hash("Contribution") + keccak256(dataset.encode())
                       + keccak256(key.encode()) + content)
    return keccak256(b"\x19\x01" + domain + struct)


def address_problem(value: object) -> str | None:
    """Why `value` is not an address (0x and 40 hex digits; a mixed-case one must carry its
    EIP-55 checksum), if it is not."""
    if not isinstance(value, str) or not _ADDRESS.match(value):
        return f"{value!r} is not a 0x address of 20 bytes"
    body = value[2:]
    if body != body.lower() and body != body.upper() and checksummed(value) != value:
        return f"{value!r} has a wrong EIP-55 checksum (mixed case); check for a typo"
    return None


def checksummed(address: str) -> str:
    """EIP-55: each hex letter upper-cased where the keccak of the lower-case hex has a nibble
    of 8 or more."""
    body = address[2:].lower()
    digest = keccak256(body.encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c
                          for i, c in enumerate(body))


def signature_problem(value: object) -> str | None:
    """Why `value` is not a 65-byte signature in hex (r, s, v), if it is not."""
    if not isinstance(value, str) or not _SIGNATURE.match(value):
        return "the signature is not 65 bytes of hex (r, s, v)"
    return None
