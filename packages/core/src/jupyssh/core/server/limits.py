"""Pre-authentication limits: OpenSSH's ``MaxStartups`` early drop, as a value.

A client that has not authenticated costs the server a connection, two threads and a key
exchange, and proves nothing. ``MaxStartups start:rate:full`` (``sshd_config(5)``) bounds
them: below ``start`` unauthenticated connections every new one is accepted; from
``start`` on a new one is dropped with probability ``rate``% rising linearly to 100% at
``full``. Random early drop keeps a flood from locking out everyone while still letting
some legitimate clients through; a per-source cap (``SSHServer``) keeps one address from
taking all the slots.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DEFAULT_MAX_STARTUPS", "MaxStartups"]


class MaxStartups(NamedTuple):
    """``start:rate:full`` — see the module docstring. ``str()`` gives that form back."""

    start: int = 10
    rate: int = 30
    full: int = 100

    @classmethod
    def parse(cls, text: str) -> MaxStartups:
        """``START:RATE:FULL``, or ``N`` alone (a hard cap: ``N:100:N``).

        :raises ValueError: a malformed or inconsistent spec (the message names it).
        """
        parts = text.strip().split(":")
        if len(parts) == 1:
            parts = [parts[0], "100", parts[0]]
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            raise ValueError(f"max-startups {text!r}: expected START:RATE:FULL, e.g. 10:30:100")
        spec = cls(*(int(part) for part in parts))
        problem = spec.problem()
        if problem:
            raise ValueError(f"max-startups {text!r}: {problem}")
        return spec

    def problem(self) -> str | None:
        """What makes this spec unusable, or ``None``."""
        if self.start < 1:
            return "START must be at least 1"
        if not 1 <= self.rate <= 100:
            return "RATE is a percentage, 1-100"
        if self.full < self.start:
            return "FULL must be at least START"
        return None

    def refuses(self, unauthenticated: int, *, draw: float) -> bool:
        """Whether to drop a new connection while ``unauthenticated`` others wait.

        :param draw: a uniform random number in [0, 1).
        """
        if unauthenticated < self.start:
            return False
        if unauthenticated >= self.full:
            return True
        span = self.full - self.start
        percent = self.rate + (100 - self.rate) * (unauthenticated - self.start) / span
        return draw * 100 < percent

    def __str__(self) -> str:
        return f"{self.start}:{self.rate}:{self.full}"


#: sshd's default, ``10:30:100``.
DEFAULT_MAX_STARTUPS = MaxStartups()
