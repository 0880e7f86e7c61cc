"""Ed25519 signatures of bundles. CI signs with the private key; production hosts hold only
public keys, so a host that loads bundles can check them but never make one it would trust.

Keys are one line of text each, to paste into an environment variable or a CI secret:
`ed25519-priv:<base64 of the raw 32 bytes>` and `ed25519-pub:<base64 of the raw 32 bytes>`.
Imported only when a bundle is built or loaded, so the linter never pays for `cryptography`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from compliance.errors import BundleKeyError

ALGORITHM = "ed25519"
SIGNING_KEY_ENV = "COMPLIANCE_BUNDLE_SIGNING_KEY"
TRUSTED_KEYS_ENV = "COMPLIANCE_BUNDLE_KEY"
PRIVATE_PREFIX = "ed25519-priv:"
PUBLIC_PREFIX = "ed25519-pub:"
# Signed bytes start with this, so that a bundle signature can never be passed off as the
# signature of anything else a team might sign with the same key.
CONTEXT = b"compliance bundle signature v1\n"
_SEPARATORS = re.compile(r"[\s,]+")  # base64 never holds a comma or white space


@dataclass(frozen=True)
class KeyPair:
    private: str  # for COMPLIANCE_BUNDLE_SIGNING_KEY, in CI secrets only
    public: str  # for COMPLIANCE_BUNDLE_KEY, on production hosts
    key_id: str


def generate() -> KeyPair:
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    return KeyPair(
        private=PRIVATE_PREFIX + _b64(private.private_bytes_raw()),
        public=PUBLIC_PREFIX + _b64(public.public_bytes_raw()),
        key_id=key_id(public),
    )


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for messages (16 hex digits of the key's SHA-256), so that an error can
    say which key signed a bundle without printing the key."""
    return hashlib.sha256(public.public_bytes_raw()).hexdigest()[:16]


def signing_key() -> Ed25519PrivateKey | None:
    """The private key in COMPLIANCE_BUNDLE_SIGNING_KEY, None when the variable is unset."""
    text = os.environ.get(SIGNING_KEY_ENV)
    if text is None:
        return None
    raw = _parse(text.strip(), PRIVATE_PREFIX, SIGNING_KEY_ENV, "its value")
    return Ed25519PrivateKey.from_private_bytes(raw)


def trusted_keys() -> dict[str, Ed25519PublicKey] | None:
    """The public keys in COMPLIANCE_BUNDLE_KEY by key id (several while keys are rotated),
    None when the variable is unset. Set but empty is an error, not "unset": an empty secret
    must never switch signature checks off."""
    text = os.environ.get(TRUSTED_KEYS_ENV)
    if text is None:
        return None
    items = [item for item in _SEPARATORS.split(text.strip()) if item]
    keys = {}
    for number, item in enumerate(items, 1):
        label = f"key {number} of {len(items)}" if len(items) > 1 else "its value"
        raw = _parse(item, PUBLIC_PREFIX, TRUSTED_KEYS_ENV, label)
        public = Ed25519PublicKey.from_public_bytes(raw)
        keys[key_id(public)] = public
    if not keys:
        raise BundleKeyError(
            f"{TRUSTED_KEYS_ENV} is set but holds no key: set it to the public key(s) "
            f"printed by `compliance bundle keygen` ({PUBLIC_PREFIX}...), or unset it"
        )
    return keys


def sign(message: bytes, private: Ed25519PrivateKey) -> dict[str, str]:
    """The signature object a bundle carries."""
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(private.public_key()),
        "value": _b64(private.sign(CONTEXT + message)),
    }


def problem(
    message: bytes, signature: dict[str, str] | None, keys: dict[str, Ed25519PublicKey]
) -> str | None:
    """None when `signature` is a valid signature of `message` by one of `keys`, else why
    not, worded to follow "bundle FILE " and to say what to do."""
    if signature is None:
        return (
            f"is not signed, and this host only loads signed bundles ({TRUSTED_KEYS_ENV} is "
            f"set): build it in CI with {SIGNING_KEY_ENV} set to the private key of one of "
            f"the public keys in {TRUSTED_KEYS_ENV}"
        )
    ident = signature["key_id"]
    if ident not in keys:
        return (
            f"is signed by key {ident}, which is not in {TRUSTED_KEYS_ENV} (it holds "
            f"{', '.join(sorted(keys))}): add that key's public key to {TRUSTED_KEYS_ENV} if "
            "you trust it, or build the bundle again with a key it holds"
        )
    try:
        keys[ident].verify(base64.b64decode(signature["value"], validate=True), CONTEXT + message)
    except (InvalidSignature, binascii.Error, ValueError):
        return (
            f"does not match its signature by key {ident}: it was changed after it was "
            "signed; build it again in CI"
        )
    return None


def _parse(text: str, prefix: str, variable: str, shown: str) -> bytes:
    """The 32 raw bytes of a key, or a BundleKeyError naming the variable and `shown` (which
    key). No value is ever echoed: error messages end up in logs, and a mistyped value may
    be a private key."""
    other = PUBLIC_PREFIX if prefix == PRIVATE_PREFIX else PRIVATE_PREFIX
    if text.startswith(other):
        if prefix == PRIVATE_PREFIX:
            raise BundleKeyError(
                f"{variable} holds a public key ({PUBLIC_PREFIX}...): it needs the private key "
                f"({PRIVATE_PREFIX}...) printed by `compliance bundle keygen`"
            )
        raise BundleKeyError(
            f"{variable} holds a private key ({PRIVATE_PREFIX}...): it takes public keys "
            f"({PUBLIC_PREFIX}...) only. Remove the private key from this host (whoever can "
            "read it can sign bundles) and make a new key pair"
        )
    if not text.startswith(prefix):
        raise BundleKeyError(
            f"{variable}: {shown} is not a key: expected {prefix}<base64>, as printed by "
            "`compliance bundle keygen`"
        )
    try:
        raw = base64.b64decode(text[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise BundleKeyError(
            f"{variable}: {shown} is not a key: after {prefix} comes the base64 of 32 bytes "
            "(44 characters), as printed by `compliance bundle keygen`"
        )
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
