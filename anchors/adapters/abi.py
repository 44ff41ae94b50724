"""Solidity ABI encoding and decoding for the read-only chain client, by hand: importing web3
or eth_abi costs 0.2-1.3 s here, more than the gate's whole answer may take. It covers the
types the registry contracts use (uintN, bool, address, bytesN, bytes, string, T[] and
tuples); tests/test_light_client.py pins it to what web3 encodes and decodes for the same
calls, events and calldata."""

from __future__ import annotations

from typing import Any

from laas.anchors.core.canonical import keccak256
from laas.anchors.core.contribution import checksummed

Kind = tuple  # ("uint", bits) | ("bool",) | ("address",) | ("fixed", n) | ("bytes",)
#               | ("string",) | ("array", Kind) | ("tuple", (Kind, ...))


def kind_of(item: dict[str, Any]) -> Kind:
    """A parsed ABI input/output entry."""
    t: str = item["type"]
    if t.endswith("[]"):
        return ("array", kind_of({**item, "type": t[:-2]}))
    if t == "tuple":
        return ("tuple", tuple(kind_of(c) for c in item["components"]))
    if t.startswith("uint"):
        return ("uint", int(t[4:] or 256))
    if t in ("bool", "address", "bytes", "string"):
        return (t,)
    if t.startswith("bytes"):
        return ("fixed", int(t[5:]))
    raise ValueError(f"ABI type {t} is not one the light client reads")


def type_name(item: dict[str, Any]) -> str:
    """The canonical type as in a signature: tuples spelled out."""
    t: str = item["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(type_name(c) for c in item["components"]) + ")" + t[5:]
    return t


def signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(type_name(i) for i in item['inputs'])})"


def _dynamic(k: Kind) -> bool:
    return k[0] in ("bytes", "string", "array") or (k[0] == "tuple" and any(map(_dynamic, k[1])))


def _head(k: Kind) -> int:
    """Bytes a member takes in its tuple's head: a static tuple is inlined."""
    return sum(map(_head, k[1])) if k[0] == "tuple" and not _dynamic(k) else 32


def encode(kinds: tuple[Kind, ...], values: Any) -> bytes:
    """The ABI encoding of `values` as a tuple of `kinds` (heads, then tails)."""
    heads, tails = [], []
    size = sum(map(_head, kinds))
    for k, v in zip(kinds, values, strict=True):
        if _dynamic(k):
            heads.append((size + sum(map(len, tails))).to_bytes(32, "big"))
            tails.append(_encode_one(k, v))
        else:
            heads.append(_encode_one(k, v))
    return b"".join(heads + tails)


def _encode_one(k: Kind, v: Any) -> bytes:
    tag = k[0]
    if tag == "uint":
        return int(v).to_bytes(32, "big")
    if tag == "bool":
        return int(bool(v)).to_bytes(32, "big")
    if tag == "address":
        return bytes.fromhex(v[2:]).rjust(32, b"\0")
    if tag == "fixed":
        raw = bytes(v)
        if len(raw) != k[1]:
            raise ValueError(f"bytes{k[1]} needs {k[1]} bytes, got {len(raw)}")
        return raw.ljust(32, b"\0")
    if tag in ("bytes", "string"):
        raw = v.encode() if tag == "string" else bytes(v)
        return len(raw).to_bytes(32, "big") + raw.ljust(-(-len(raw) // 32) * 32, b"\0")
    if tag == "array":
        return len(v).to_bytes(32, "big") + encode((k[1],) * len(v), v)
    return encode(k[1], v)  # tuple


def decode(kinds: tuple[Kind, ...], data: bytes, base: int = 0) -> tuple:
    """Values of a tuple of `kinds` encoded at data[base:]; bounds are checked (a lying node
    gets a ValueError, not a wrong value)."""
    out = []
    at = base
    for k in kinds:
        out.append(_decode_one(k, data, base + int.from_bytes(_word(data, at), "big"))
                   if _dynamic(k) else _decode_one(k, data, at))
        at += _head(k)
    return tuple(out)


def _word(data: bytes, at: int) -> bytes:
    if at < 0 or at + 32 > len(data):
        raise ValueError("ABI data too short")
    return data[at:at + 32]


def _decode_one(k: Kind, data: bytes, at: int) -> Any:
    tag = k[0]
    if tag == "tuple":
        return decode(k[1], data, at)
    word = _word(data, at)
    if tag == "uint":
        value = int.from_bytes(word, "big")
        if value >> k[1]:
            raise ValueError(f"uint{k[1]} out of range")
        return value
    if tag == "bool":
        if int.from_bytes(word, "big") > 1:
            raise ValueError("bool out of range")
        return word[31] == 1
    if tag == "address":
        return checksum(word[12:])
    if tag == "fixed":
        return word[:k[1]]
    if tag in ("bytes", "string"):
        n = int.from_bytes(word, "big")
        if at + 32 + n > len(data):
            raise ValueError("ABI data too short")
        raw = data[at + 32:at + 32 + n]
        return raw.decode() if tag == "string" else raw
    if tag == "array":
        n = int.from_bytes(word, "big")
        if n > (len(data) - at) // 32:
            raise ValueError("ABI array longer than its data")
        return list(decode((k[1],) * n, data, at + 32))
    raise ValueError(f"ABI kind {tag}")


def checksum(address: bytes) -> str:
    """EIP-55: the mixed-case form web3 returns."""
    return checksummed("0x" + address.hex())


class Interface:
    """A contract's ABI for the light client: call data of its functions, their outputs, its
    events' topics and logs, and the function call a transaction's input makes."""

    def __init__(self, abi: list[dict[str, Any]]):
        self.functions = {i["name"]: i for i in abi if i["type"] == "function"}
        self.events = {i["name"]: i for i in abi if i["type"] == "event"}
        self.errors = {i["name"]: i for i in abi if i["type"] == "error"}
        self._by_selector = {keccak256(signature(i).encode())[:4]: i
                             for i in self.functions.values()}

    def error_name(self, data: Any) -> str:
        """The contract error a revert's data names (or the data as it came)."""
        data = data if isinstance(data, str) else str(data)
        for item in self.errors.values():
            if data.startswith("0x" + keccak256(signature(item).encode())[:4].hex()):
                return item["name"]
        return data

    @staticmethod
    def _kinds(items: list[dict[str, Any]]) -> tuple[Kind, ...]:
        return tuple(kind_of(i) for i in items)

    def call_data(self, fn: str, *args: Any) -> bytes:
        item = self.functions[fn]
        return keccak256(signature(item).encode())[:4] + encode(self._kinds(item["inputs"]),
                                                                args)

    def outputs(self, fn: str, raw: bytes) -> tuple:
        return decode(self._kinds(self.functions[fn]["outputs"]), raw)

    def topic(self, event: str) -> bytes:
        return keccak256(signature(self.events[event]).encode())

    def topics(self, event: str, filters: dict[str, Any]) -> list[str | None]:
        """eth_getLogs topics: the event, then each indexed argument (None: any)."""
        indexed = [i for i in self.events[event]["inputs"] if i.get("indexed")]
        out: list[str | None] = ["0x" + self.topic(event).hex()]
        out += ["0x" + _encode_one(kind_of(i), filters[i["name"]]).hex()
                if i["name"] in filters else None for i in indexed]
        while out[-1] is None:
            out.pop()
        return out

    def decode_log(self, event: str, log: dict[str, Any]) -> dict[str, Any]:
        """A JSON-RPC log as web3 gives it: args by name, blockNumber, transactionHash."""
        inputs = self.events[event]["inputs"]
        topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
        if not topics or topics[0] != self.topic(event):
            raise ValueError(f"not a {event} log")
        indexed = [i for i in inputs if i.get("indexed")]
        plain = [i for i in inputs if not i.get("indexed")]
        if len(topics) != len(indexed) + 1:
            raise ValueError(f"{event} log with {len(topics)} topics")
        args = {i["name"]: _decode_one(kind_of(i), t, 0)
                for i, t in zip(indexed, topics[1:], strict=True)}
        args.update(zip((i["name"] for i in plain),
                        decode(self._kinds(plain), bytes.fromhex(log["data"][2:])),
                        strict=True))
        return {"event": event, "args": args, "blockNumber": int(log["blockNumber"], 16),
                "transactionHash": bytes.fromhex(log["transactionHash"][2:]),
                "logIndex": int(log.get("logIndex") or "0x0", 16)}

    def decode_input(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(function name, arguments by name) of a call's input; ValueError if it is none of
        this contract's functions or does not decode."""
        item = self._by_selector.get(bytes(data[:4]))
        if item is None:
            raise ValueError("not a call of this contract")
        values = decode(self._kinds(item["inputs"]), bytes(data[4:]))
        return item["name"], dict(zip((i["name"] for i in item["inputs"]), values,
                                      strict=True))
