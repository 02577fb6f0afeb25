"""Secrets and lookups that keep a lead's data private: conversation access tokens and e-mail hashes.

A conversation's access token is the only key to it for a customer (ids are sequential and guessable), so it
is random (256 bits), shown once, and stored only as its SHA-256. An e-mail is stored hashed beside each
conversation so a person's data can be found for erasure in any inbox without keeping another copy of it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits of randomness (the issue asks for at least 128)


def new_conversation_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str | None, stored_hash: str | None) -> bool:
    """Constant-time check of a presented token against a stored hash; False when either is missing."""
    if not token or not stored_hash:
        return False
    return hmac.compare_digest(token_hash(token), stored_hash)


def email_hash(email: str) -> str:
    """E-mail addresses compare case-insensitively (as Chatwoot and the built-in inbox do)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
