"""Pairing codes: short-lived, random, revocable; one code may pair several screens.

A code (six characters from an alphabet without look-alikes, e.g. ``K7M-Q2X`` as shown)
is accepted for :data:`CODE_TTL_S` seconds after it was made. Pairing with it gives the
browser a *viewer token* (128 random bits) that lets the same page reconnect after a
network hiccup, as long as its code has not been revoked; the token dies with its code.
Revoking a code (or all of them) closes the screens paired with it.

Time comes from an injectable clock (``time.monotonic`` by default), so expiry is tested
without waiting.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

#: Characters of a code: no 0/O, 1/I/L, 5/S, 8/B, so it can be read aloud and typed.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY234679"
CODE_LENGTH = 6
#: How long a new code can be used to pair a screen, seconds.
CODE_TTL_S = 300.0


def normalise_code(text: str) -> str:
    """Upper-case, without spaces and dashes (what people type)."""
    return "".join(ch for ch in str(text).upper() if ch not in " -_")


def display_code(code: str) -> str:
    """The code as shown: ``ABC-DEF``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


@dataclass
class Pairing:
    """One code and the viewer tokens paired with it."""

    code: str
    made_s: float
    ttl_s: float
    tokens: set = field(default_factory=set)
    revoked: bool = False

    def accepts_new(self, now_s: float) -> bool:
        """Can still pair a new screen at ``now_s``."""
        return not self.revoked and now_s - self.made_s <= self.ttl_s


class PairingBook:
    """The codes of one share server (thread-safe).

    Parameters
    ----------
    ttl_s : float
        Seconds a code can be used to pair, from its creation.
    clock : callable
        Monotonic seconds.
    """

    def __init__(self, ttl_s: float = CODE_TTL_S, clock=time.monotonic) -> None:
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.ttl_s = float(ttl_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._pairings: dict[str, Pairing] = {}
        self._token_code: dict[str, str] = {}
        #: Pairing attempts refused (wrong, expired or revoked code or token).
        self.refused = 0

    def new_code(self) -> str:
        """Make a fresh code, valid for :attr:`ttl_s` seconds."""
        with self._lock:
            while True:
                code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
                if code not in self._pairings:
                    break
            self._pairings[code] = Pairing(code, self.clock(), self.ttl_s)
            return code

    def _find(self, code: str) -> Pairing | None:
        code = normalise_code(code)
        found = None
        for known, pairing in self._pairings.items():  # compare all, in constant time each
            if hmac.compare_digest(known.encode(), code.encode()):
                found = pairing
        return found

    def pair(self, code: str) -> str | None:
        """A new viewer token if ``code`` is known, unrevoked and not expired, else None."""
        with self._lock:
            pairing = self._find(code or "")
            if pairing is None or not pairing.accepts_new(self.clock()):
                self.refused += 1
                return None
            token = secrets.token_urlsafe(16)
            pairing.tokens.add(token)
            self._token_code[token] = pairing.code
            return token

    def code_of(self, token: str) -> str | None:
        """The code a live viewer token was paired with (None: unknown or revoked)."""
        with self._lock:
            code = self._token_code.get(token or "")
            if code is None or self._pairings[code].revoked:
                return None
            return code

    def resume(self, token: str) -> bool:
        """True if ``token`` may reconnect (its code was not revoked); counts refusals."""
        ok = self.code_of(token) is not None
        if not ok:
            with self._lock:
                self.refused += 1
        return ok

    def revoke(self, code: str) -> bool:
        """Revoke ``code`` and its viewers' tokens; False if it was not known."""
        with self._lock:
            pairing = self._find(code)
            if pairing is None:
                return False
            pairing.revoked = True
            for token in pairing.tokens:
                self._token_code.pop(token, None)
            pairing.tokens.clear()
            return True

    def revoke_all(self) -> list[str]:
        """Revoke every code; returns the codes revoked."""
        with self._lock:
            codes = [c for c, p in self._pairings.items() if not p.revoked]
        for code in codes:
            self.revoke(code)
        return codes

    def active_codes(self) -> list[str]:
        """Codes not revoked (expired ones included: their screens may still be paired)."""
        with self._lock:
            return [c for c, p in self._pairings.items() if not p.revoked]

    def expires_in_s(self, code: str) -> float:
        """Seconds ``code`` can still pair a new screen (0 once expired or revoked)."""
        with self._lock:
            pairing = self._find(code)
            if pairing is None or pairing.revoked:
                return 0.0
            return max(0.0, pairing.made_s + pairing.ttl_s - self.clock())
