"""Pairing codes: random, short-lived, revocable; tokens resume until revoked."""

from __future__ import annotations

import pytest

from emgfeedback.share.pairing import (
    ALPHABET,
    CODE_LENGTH,
    PairingBook,
    display_code,
    normalise_code,
)


def test_codes_are_random_from_the_readable_alphabet(clock):
    book = PairingBook(60.0, clock)
    codes = {book.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    assert not set("015BILOS8") & set(ALPHABET)


def test_a_code_pairs_until_it_expires_and_is_typed_loosely(clock):
    book = PairingBook(60.0, clock)
    code = book.new_code()
    typed = display_code(code).lower().replace("-", " - ")
    assert normalise_code(typed) == code
    assert book.pair(typed) is not None
    clock.advance(60.0)
    assert book.pair(code) is not None  # the last second still counts
    clock.advance(0.001)
    assert book.pair(code) is None
    assert book.refused == 1
    assert book.expires_in_s(code) == 0.0


def test_wrong_codes_are_refused_and_counted(clock):
    book = PairingBook(60.0, clock)
    code = book.new_code()
    wrong = ("A" if code[0] != "A" else "C") + code[1:]
    assert book.pair(wrong) is None
    assert book.pair("") is None
    assert book.pair(code + "A") is None
    assert book.refused == 3


def test_a_token_resumes_after_the_code_expired_until_the_code_is_revoked(clock):
    book = PairingBook(60.0, clock)
    code = book.new_code()
    token = book.pair(code)
    clock.advance(3600.0)
    assert book.resume(token) and book.code_of(token) == code
    assert book.revoke(code)
    assert not book.resume(token)
    assert book.pair(code) is None
    assert code not in book.active_codes()


def test_revoke_all_ends_every_code_and_token(clock):
    book = PairingBook(60.0, clock)
    codes = [book.new_code() for _ in range(3)]
    tokens = [book.pair(c) for c in codes]
    assert sorted(book.revoke_all()) == sorted(codes)
    assert not any(book.resume(t) for t in tokens)
    assert not book.resume("made-up-token")


def test_ttl_must_be_positive(clock):
    with pytest.raises(ValueError, match="positive"):
        PairingBook(0.0, clock)
