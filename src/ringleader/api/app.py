"""The control API's application: routing, role checks, argument validation, error
mapping and auditing around the command handlers (``api.commands``).

Transport-free: it takes a parsed ``Request`` and returns a ``Response`` or an
``EventStream``, so it is tested in-process without a socket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ringleader.api.audit import AuditLog
from ringleader.api.commands import Commands
from ringleader.api.http import EventStream, FramedStream, Request, Response, Stream
from ringleader.api.jsonbody import BodyError, convert, parse_json
from ringleader.api.routes import ROLE_RANK, ROUTES, Route
from ringleader.api.schema import HTTP_STATUS, TYPES, ErrorBody, ErrorCode
from ringleader.errors import (
    AlreadyExists,
    ClusterOwned,
    ConfigError,
    Conflict,
    HookFailed,
    LimitExceeded,
    NotFound,
    NotReady,
    RingleaderError,
    SpawnError,
)

log = logging.getLogger("ringleader.api")

_encode = msgspec.json.Encoder().encode


class ApiError(Exception):
    """An error answer: raised by handlers and validation, rendered by the app."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# Domain errors -> API codes: the one place where they are mapped.
_ERRORS: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (NotFound, ErrorCode.NOT_FOUND),
    (AlreadyExists, ErrorCode.ALREADY_EXISTS),
    (Conflict, ErrorCode.CONFLICT),
    (ClusterOwned, ErrorCode.CLUSTER_OWNED),
    (ConfigError, ErrorCode.CONFIG_INVALID),
    (SpawnError, ErrorCode.SPAWN_FAILED),
    (LimitExceeded, ErrorCode.LIMIT_EXCEEDED),
    (NotReady, ErrorCode.NOT_READY),
    (HookFailed, ErrorCode.HOOK_FAILED),
)


def error_response(code: ErrorCode, detail: str) -> Response:
    return Response(HTTP_STATUS[code], _encode(ErrorBody(error=code, detail=detail)))


class ControlApp:
    """Routes requests to `Commands` (and the dashboard's operations to *dashboard*, whose
    handlers also get the request). Static paths are a dict lookup; named paths are a
    prefix (`/v1/watchers/`), a name and a suffix, also a dict lookup: no regex per
    request."""

    def __init__(self, commands: Commands, audit: AuditLog | None = None, *,
                 dashboard: object | None = None) -> None:
        self.commands = commands
        self.audit = audit
        self._static: dict[tuple[str, str], Route] = {}
        self._by_suffix: dict[tuple[str, str, str], Route] = {}
        self._methods: dict[str, set[str]] = {}
        for route in ROUTES:
            if "{name}" in route.path:
                prefix, suffix = route.path.split("{name}", 1)
                self._by_suffix[(route.method, prefix, suffix)] = route
                self._methods.setdefault(route.path, set()).add(route.method)
            else:
                self._static[(route.method, route.path)] = route
                self._methods.setdefault(route.path, set()).add(route.method)
        self._prefixes = sorted({p for _, p, _ in self._by_suffix}, key=len, reverse=True)
        self._handlers: dict[str, Callable[..., Awaitable[Any]]] = {}
        self._with_request: set[str] = set()  # the dashboard's handlers get the request
        for route in ROUTES:
            op = route.twin_of or route.op
            handler = getattr(commands, f"op_{op}", None)
            if handler is None:  # the dashboard's: absent without one (a library's app)
                handler = getattr(dashboard, f"op_{op}", None) or _no_dashboard
                self._with_request.add(route.op)
            self._handlers[route.op] = handler

    def error(self, status: int, code: str, detail: str) -> Response:
        """Used by the transport for its own errors (malformed HTTP, auth, limits)."""
        body = msgspec.json.encode({"error": code, "detail": detail})
        return Response(status, body)

    def _match(self, method: str, path: str) -> tuple[Route, str | None]:
        route = self._static.get((method, path))
        if route is not None:
            return route, None
        key = path
        name: str | None = None
        for prefix in self._prefixes:
            if not path.startswith(prefix):
                continue
            name, slash, rest = path[len(prefix):].partition("/")
            suffix = slash + rest
            route = self._by_suffix.get((method, prefix, suffix))
            if route is not None and name:
                return route, name
            key = prefix + "{name}" + suffix
            break
        if key in self._methods:
            raise ApiError(ErrorCode.METHOD_NOT_ALLOWED,
                           f"{method} not allowed on {path} (allowed: "
                           f"{', '.join(sorted(self._methods[key]))})")
        raise ApiError(ErrorCode.NOT_FOUND, f"no such endpoint: {method} {path}")

    async def handle(self, request: Request) -> Response | Stream:
        """The error boundary of every request: whatever happens, an answer comes back and
        an audited call leaves its audit line."""
        route: Route | None = None
        name: str | None = None
        args: Any = None if not request.body.strip() else {"unparsed_bytes": len(request.body)}
        try:
            route, name = self._match(request.method, request.path)
            if ROLE_RANK.get(request.identity.role, -1) < ROLE_RANK[route.role]:
                if request.identity.role not in ROLE_RANK:  # a browser not signed in
                    raise ApiError(ErrorCode.UNAUTHORIZED, "sign in first")
                raise ApiError(ErrorCode.FORBIDDEN,
                               f"{route.twin_of or route.op} needs the {route.role} role; "
                               f"{request.identity.name} has {request.identity.role}")
            unknown = set(request.query) - set(route.query)
            if unknown:
                raise ApiError(ErrorCode.BAD_REQUEST,
                               f"unknown query parameter(s): {', '.join(sorted(unknown))}")
            types = TYPES[route.op]
            call: list[Any] = [] if name is None else [name]
            if types.request is not None:
                data = parse_json(request.body or b"{}")
                args = data if request.body.strip() else None
                call.append(convert(data, types.request))
            elif request.body.strip():
                # {} is "nothing": what a browser's POST (always JSON) sends for none
                if request.method != "POST" or parse_json(request.body) != {}:
                    raise ApiError(ErrorCode.BAD_REQUEST, f"{route.op} takes no request body")
                args = None
            if route.audited and self.audit is not None:
                self._check_audit(request)
            handler = self._handlers[route.op]
            result = await (handler(*call, query=request.query, request=request)
                            if route.op in self._with_request
                            else handler(*call, query=request.query))
            response = self._render(result, types.status)
        except BodyError as exc:
            response = error_response(ErrorCode.BAD_REQUEST, exc.detail)
        except ApiError as exc:
            response = error_response(exc.code, exc.detail)
        except ConfigError as exc:
            response = error_response(ErrorCode.CONFIG_INVALID, "; ".join(exc.problems))
        except RingleaderError as exc:
            response = error_response(_code_for(exc), str(exc))
        except Exception:  # a bug: logged with its traceback, answered, and still audited
            log.exception("API handler failed on %s %s from %s", request.method, request.path,
                          request.peer.address)
            response = error_response(ErrorCode.INTERNAL,
                                      "internal error (see the controller's log)")
        if (route is not None and route.audited and self.audit is not None
                and isinstance(response, Response)):
            try:
                self.audit.record(request, route.twin_of or route.op, name, response, args)
            except Exception:
                log.exception("cannot write the audit record of %s", route.op)
        return response

    def _check_audit(self, request: Request) -> None:
        """An audited change that could not be recorded is not made (unless the operator
        chose audit_required = false)."""
        assert self.audit is not None
        problem = self.audit.problem(request)
        if problem is not None and self.audit.required:
            raise ApiError(ErrorCode.UNAVAILABLE,
                           f"the audit log {self.audit.path} cannot record this change "
                           f"({problem}): refused")

    @staticmethod
    def _render(result: Any, status: int) -> Response | Stream:
        if isinstance(result, (Response, EventStream, FramedStream)):
            return result
        return Response(status, _encode(result))


async def _no_dashboard(*args: Any, **kwargs: Any) -> Any:
    raise ApiError(ErrorCode.NOT_FOUND, "this controller serves no dashboard")


def _code_for(exc: RingleaderError) -> ErrorCode:
    for kind, code in _ERRORS:
        if isinstance(exc, kind):
            return code
    return ErrorCode.BAD_REQUEST
