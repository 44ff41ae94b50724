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
