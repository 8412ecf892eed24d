"""An unknown email is checked against a fixed hash (``handoff.auth._DUMMY_HASH``, a literal: hashing
at import would spend argon2's 64 MiB in every process), so it must cost what a real agent's hash
costs: the same argon2 parameters as the hasher's."""

from __future__ import annotations

from argon2 import extract_parameters

from helpdesk.handoff import auth


def test_the_dummy_hash_has_the_hashers_parameters() -> None:
    real = auth.hash_password("a real password")
    assert extract_parameters(auth._DUMMY_HASH) == extract_parameters(real)
    assert not auth._HASHER.check_needs_rehash(auth._DUMMY_HASH)
    assert not auth.verify_password(auth._DUMMY_HASH, "a real password")
