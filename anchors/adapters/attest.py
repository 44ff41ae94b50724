"""Attestations: a committer's signature over a manifest hash, stored beside the manifest, so
that a later process (on this machine or another sharing the artifact store) can tell a
manifest a committer produced from one somebody planted in the store.

Why a signature and not a journal kept beside the key: a journal proves "this machine wrote
it" only to this machine, while runs are resumed from other machines, CI runners and Prefect
workers that share the bucket, and a journal next to the artifacts is as writable as they are.
A signature travels with the manifest and is checked against the key's address, which only
the key's holder can produce. Format laas-attest-v1: EIP-191 personal message
"laas-attest-v1 <manifest hash>"; the signer's address is recovered, never taken from the file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

ATTEST_VERSION = "laas-attest-v1"


class Attestation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = ATTEST_VERSION
    manifest_hash: str
    signature: str

    def signer_for(self, manifest_hash: str) -> str | None:
        """Who signed this attestation, if it attests `manifest_hash` (else nobody did)."""
        return self.signer() if self.manifest_hash == manifest_hash else None

    def signer(self) -> str | None:
        """The address that signed this manifest hash, or None if the signature is malformed
        or of a version this code does not know (never guessed)."""
        if self.version != ATTEST_VERSION:
            return None
        from eth_account import Account  # ~1 s to import: only when a signature is checked

        try:
            return Account.recover_message(_message(self.manifest_hash),
                                           signature=self.signature)
        except Exception:  # malformed signature bytes: no signer
            return None


def _message(manifest_hash: str):  # noqa: ANN202 - eth_account's SignableMessage
    from eth_account.messages import encode_defunct

    return encode_defunct(text=f"{ATTEST_VERSION} {manifest_hash.lower()}")


def attest(account: object, manifest_hash: str) -> Attestation:
    """Sign a manifest hash with a LocalAccount (the committer key)."""
    signed = account.sign_message(_message(manifest_hash))  # type: ignore[attr-defined]
    return Attestation(manifest_hash=manifest_hash, signature="0x" + signed.signature.hex()
                       .removeprefix("0x"))
