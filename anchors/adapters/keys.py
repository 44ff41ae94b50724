"""An account's address from its private key without eth_account (about 1 s to import here,
more than `laas chain status` takes to answer): the secp256k1 public key through coincurve
(the backend eth_keys itself uses when it is installed), then keccak256 and EIP-55, as
Ethereum defines an address. tests/test_light_client.py pins it to eth_account's."""

from __future__ import annotations

from laas.anchors.adapters.abi import checksum
from laas.anchors.core.canonical import keccak256


def address_of(private_key: str) -> str:
    """The checksummed address of a hex private key (0x or not); ValueError if it is none."""
    from coincurve import PrivateKey

    try:
        secret = bytes.fromhex(private_key.strip().removeprefix("0x"))
        if len(secret) != 32:
            raise ValueError("not 32 bytes")
        public = PrivateKey(secret).public_key.format(compressed=False)[1:]
    except (ValueError, TypeError):
        raise ValueError("not a valid hex private key") from None
    return checksum(keccak256(public)[-20:])


def recover(digest: bytes, signature: str) -> str:
    """The checksummed address whose key made `signature` (65 bytes hex: r, s, v with v 27/28
    or 0/1) over the 32-byte `digest`; ValueError if none did. Through coincurve, as eth_keys
    recovers when it is installed."""
    from coincurve import PublicKey

    raw = bytes.fromhex(signature.removeprefix("0x"))
    if len(raw) != 65 or raw[64] not in (0, 1, 27, 28):
        raise ValueError("not a 65-byte signature with v 27 or 28")
    if int.from_bytes(raw[32:64], "big") > _HALF_ORDER:
        raise ValueError("signature s is in the upper half of the curve order (EIP-2)")
    try:
        public = PublicKey.from_signature_and_message(
            raw[:64] + bytes([raw[64] % 27]), digest, hasher=None)
    except Exception as e:  # coincurve raises its own errors for points off the curve
        raise ValueError(f"signature does not recover a key ({type(e).__name__})") from None
    return checksum(keccak256(public.format(compressed=False)[1:])[-20:])


# secp256k1's order / 2: a signature with a higher s has a twin (n - s), so only low s counts
_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
