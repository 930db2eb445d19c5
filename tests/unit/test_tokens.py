"""The emulators' signed bearer tokens: what one key issued it reads back; anything
altered, forged with another key, truncated or not a token at all reads as None."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docflow.emulators._tokens import IssuedToken, TokenBook

BOOK = TokenBook(b"k" * 32)


def test_a_token_reads_back_and_expires() -> None:
    token = BOOK.issue("vanthu", issued=1000.0, lifetime=1800, scope="edoc")
    read = BOOK.read(token)
    assert read == IssuedToken("vanthu", 1000.0, 1800.0, "edoc")
    assert not read.expired(2799.0) and read.expired(2800.0)
    assert TokenBook(b"k" * 32).read(token) == read  # another process, the same key
    assert TokenBook(b"x" * 32).read(token) is None  # another platform's key
    assert BOOK.issue("vanthu", issued=1000.0, lifetime=1800) != BOOK.issue(
        "vanthu", issued=1000.0, lifetime=1800)  # a nonce in each


@given(st.integers(min_value=0), st.characters(codec="ascii"))
def test_any_change_to_a_token_is_refused(position: int, replacement: str) -> None:
    token = BOOK.issue("vanthu", issued=1000.0, lifetime=1800)
    index = position % len(token)
    changed = token[:index] + replacement + token[index + 1:]
    if changed != token:
        assert BOOK.read(changed) is None


@pytest.mark.parametrize("text", ["", ".", "abc", "a.b", "é.é", "x" * 5000,
                                  "eyJzIjoxfQ.AAAA"])
def test_what_is_not_a_token_reads_as_none(text: str) -> None:
    assert BOOK.read(text) is None


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        TokenBook(b"short")
