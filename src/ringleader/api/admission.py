"""Admission of connections to one listener of the API: pure bookkeeping, no I/O.

Each listener (the unix socket, the TLS socket) has its own `Pool`, so strangers on the
network can never take the places of local users:

- at most `limit` connections, plus `reserve` more that only the controller's own user and
  root may take (the owner can always reach its controller, however busy);
- a connection is *unauthenticated* until its first request passed authentication (on the
  unix socket, an allowed peer is authenticated from the start, by its credentials); at
  most `per_peer` unauthenticated connections per peer key (an IP address, or a uid), so
  that one address cannot hold the places everybody else needs.

A connection over the limit still gets a `Ticket`, marked `busy`: the server answers it 503
(it counts against its peer's budget while that answer is made, so a flood of refusals from
one address is bounded as well). Over its peer's budget, `admit` returns None: the server
closes the connection without a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, final

__all__ = ["Pool", "Ticket"]

# pool, reserve: a place held; none: busy, to be answered 503; released: closed
Place = Literal["pool", "reserve", "none", "released"]


@dataclass(eq=False, slots=True)
class Ticket:
    """One admitted connection: what it holds in its pool."""

    key: str
    authenticated: bool
    place: Place

    @property
    def busy(self) -> bool:
        return self.place == "none"


@final
class Pool:
    def __init__(self, limit: int, *, reserve: int = 0, per_peer: int = 16) -> None:
        if limit < 1 or reserve < 0 or per_peer < 1:
            raise ValueError("a pool needs limit >= 1, reserve >= 0 and per_peer >= 1")
        self.limit = limit
        self.reserve = reserve
        self.per_peer = per_peer
        self._held: dict[Place, int] = {"pool": 0, "reserve": 0, "none": 0}
        self._unauthenticated: dict[str, int] = {}

    @property
    def size(self) -> int:
        """Connections holding a place (busy ones being refused are not counted)."""
        return self._held["pool"] + self._held["reserve"]

    def unauthenticated(self, key: str) -> int:
        return self._unauthenticated.get(key, 0)

    def admit(self, key: str, *, authenticated: bool, owner: bool = False) -> Ticket | None:
        """A ticket for a new connection from *key*, or None when that peer already holds
        its whole budget of unauthenticated connections. *owner*: the controller's own
        user or root, who may take the reserve."""
        if not authenticated:
            count = self._unauthenticated.get(key, 0)
            if count >= self.per_peer:
                return None
            self._unauthenticated[key] = count + 1
        place: Place = "none"
        if self._held["pool"] < self.limit:
            place = "pool"
        elif owner and self._held["reserve"] < self.reserve:
            place = "reserve"
        self._held[place] += 1
        return Ticket(key, authenticated, place)

    def authenticate(self, ticket: Ticket) -> None:
        """The connection's first request passed authentication: it no longer counts
        against its peer's budget."""
        if not ticket.authenticated:
            ticket.authenticated = True
            self._forget(ticket.key)

    def release(self, ticket: Ticket) -> None:
        """The connection is closed (idempotent)."""
        if ticket.place == "released":
            return
        self._held[ticket.place] -= 1
        if not ticket.authenticated:
            self._forget(ticket.key)
        ticket.place = "released"

    def _forget(self, key: str) -> None:
        count = self._unauthenticated[key] - 1
        if count:
            self._unauthenticated[key] = count
        else:
            del self._unauthenticated[key]  # the dict holds only peers with connections
