"""etcd user/password auth: a token per endpoint (etcd's default "simple" tokens are known
only to the member that issued them), fetched once however many calls need it at the same
time (each authentication costs etcd a bcrypt check), forgotten when etcd calls it invalid
(expired, or the member restarted) so the next call fetches a new one."""

from __future__ import annotations

import asyncio
import logging

from ringleader.cluster.etcd import wire
from ringleader.cluster.etcd.errors import AUTH_NOT_ENABLED, raise_for
from ringleader.cluster.etcd.http import Endpoint, EndpointPool

log = logging.getLogger("ringleader.cluster.etcd")


class Tokens:
    def __init__(self, user: str | None, password: str | None) -> None:
        self._user = user
        self._password = password
        self._tokens: dict[Endpoint, str] = {}  # "" where etcd has auth disabled
        self._locks: dict[Endpoint, asyncio.Lock] = {}

    async def get(self, ep: Endpoint, pool: EndpointPool) -> str | None:
        """The token to send to ``ep``; None without credentials."""
        if self._user is None or self._password is None:
            return None
        token = self._tokens.get(ep)
        if token is None:
            async with self._locks.setdefault(ep, asyncio.Lock()):
                token = self._tokens.get(ep)
                if token is None:
                    token = self._tokens[ep] = await self._authenticate(
                        pool, self._user, self._password)
        return token

    def forget(self, ep: Endpoint) -> None:
        self._tokens.pop(ep, None)

    async def _authenticate(self, pool: EndpointPool, user: str, password: str) -> str:
        body = wire.encode(wire.AuthenticateRequest(name=user, password=password))
        conn = await pool.acquire()
        try:
            status, answer = await conn.request("/v3/auth/authenticate", body, [])
        except BaseException:
            conn.close()
            raise
        pool.release(conn)
        if status != 200:
            code, message = wire.error_of(status, answer)
            if AUTH_NOT_ENABLED in message:
                log.warning("etcd at %s has authentication disabled: the user and password "
                            "are not used", pool.endpoint)
                return ""
            raise_for(code, message)
        return wire.decode(answer, wire.AuthenticateResponse).token
