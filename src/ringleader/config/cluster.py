"""The ``[cluster]`` table of a node's config, as frozen models: what its cluster agent
and the agent's etcd client are told (``ringleader.cluster`` reads these; the console
builds an ``EtcdSettings`` from ``--etcd``). Only the models live here: a controller
without ``[cluster]`` imports nothing of ``ringleader.cluster``.

``settings_from_dict`` gives the loader's one-line errors (``WHERE field: problem``). The
password never appears in a repr, a log line or ``check``'s output.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec import Meta

from ringleader.errors import ConfigError

NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"  # a node or job name is one key segment
LABEL_PATTERN = r"^[A-Za-z0-9_.\-/]+$"
_LOOPBACK = re.compile(r"^(127\.|::1$|localhost$)")
WILDCARDS = ("0.0.0.0", "::", "*")
TLS_FILES = ("ca_file", "cert_file", "key_file")

Name = Annotated[str, Meta(min_length=1, max_length=128, pattern=NAME_PATTERN)]
LabelName = Annotated[str, Meta(min_length=1, max_length=63, pattern=LABEL_PATTERN)]
Seconds = Annotated[float, Meta(gt=0, le=3600)]


class Endpoint(NamedTuple):
    """One etcd client URL, parsed. (A NamedTuple: a dataclass costs ~0.5 ms to define,
    at every controller start.)"""

    scheme: str  # "http" or "https"
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_endpoint(text: str, *, default_scheme: str = "http") -> Endpoint:
    """"http://127.0.0.1:2379", "https://[::1]:2379" or "etcd1:2379" -> Endpoint;
    ValueError with the reason otherwise."""
    raw = text.strip()
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = default_scheme, raw
    expected = f'expected http(s)://HOST:PORT such as "http://127.0.0.1:2379", got "{text}"'
    if scheme not in ("http", "https") or "/" in rest.rstrip("/"):
        raise ValueError(expected)
    host, sep, port = rest.rstrip("/").rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(expected)
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(expected)
    return Endpoint(scheme, host, int(port))


class EtcdSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How to reach etcd."""

    endpoints: Annotated[list[str], Meta(min_length=1, description="client URLs, "
                                         'e.g. ["https://10.0.0.1:2379", ...]; failover '
                                         "goes through them in order")]
    ca_file: Annotated[str | None, Meta(description="PEM CA verifying etcd's certificate "
                                        "(https endpoints; default: the system's)")] = None
    cert_file: Annotated[str | None, Meta(description="PEM client certificate")] = None
    key_file: Annotated[str | None, Meta(description="PEM private key of cert_file")] = None
    user: Annotated[Annotated[str, Meta(min_length=1)] | None,
                    Meta(description="etcd user (auth)")] = None
    password: Annotated[str | None, Meta(description="its password; never logged")] = None
    timeout: Annotated[Seconds, Meta(description="the most one call may take, every "
                                     "endpoint tried included")] = 5.0
    discover_members: Annotated[bool, Meta(description="add the members etcd lists to the "
                                           "endpoints (turn off behind a proxy or a load "
                                           "balancer)")] = True

    def __post_init__(self) -> None:
        # a rule across fields says "FIELD: what is wrong" (settings_from_dict shows it so)
        for text in self.endpoints:
            try:
                parse_endpoint(text)
            except ValueError as exc:
                raise ValueError(f"etcd: {exc}") from None
        if (self.user is None) != (self.password is None):
            raise ValueError("user: goes with password (both or neither)")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file: needs cert_file")

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        shown = {f: getattr(self, f) for f in self.__struct_fields__ if f != "password"}
        return f"EtcdSettings({shown}, password={'***' if self.password else None})"

    __str__ = __repr__

    def parsed_endpoints(self) -> list[Endpoint]:
        """The endpoints; one without a scheme is https when TLS files are given."""
        default = "https" if self.ca_file or self.cert_file else "http"
        return [parse_endpoint(e, default_scheme=default) for e in self.endpoints]

    def warnings(self) -> list[str]:
        """Legal but unwise settings, one line each."""
        found = []
        if self.password is not None:
            for ep in self.parsed_endpoints():
                if ep.scheme == "http" and not _LOOPBACK.match(ep.host):
                    found.append(f"the etcd password goes in clear text to {ep.url} "
                                 "(use an https endpoint)")
        return found


def _hostname() -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", socket.gethostname()) or "node"


class ClusterSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A node's ``[cluster]`` table."""

    etcd: EtcdSettings
    name: Annotated[Name, Meta(description="this node's name (default: the host name)")] = (
        msgspec.field(default_factory=_hostname))
    cluster: Annotated[Name, Meta(description="the cluster's name: many clusters may share "
                                  "one etcd")] = "default"
    prefix: Annotated[str | None, Meta(description="key prefix (default: "
                                       "/ringleader/CLUSTER)")] = None
    labels: Annotated[dict[LabelName, Annotated[str, Meta(max_length=256)]],
                      Meta(description='e.g. {zone = "a", ssd = "yes"}')] = {}
    advertise: Annotated[str | None, Meta(description="this node's TLS API address "
                                          "(HOST:PORT) for the console; default: "
                                          "[ringleader.tcp] listen unless it is a "
                                          "wildcard address")] = None
    ttl: Annotated[int, Meta(ge=2, le=300, description="seconds without contact after "
                             "which this node counts as lost and its work moves")] = 10
    settle: Annotated[Annotated[float, Meta(ge=0, le=3600)] | None,
                      Meta(description="a scheduler elected "
                                         "this soon after its node started waits this long "
                                         "for the other nodes to register before moving "
                                         "work (default: ttl)")] = None
    scheduler: Annotated[bool, Meta(description="take part in the scheduler election")] = True

    def __post_init__(self) -> None:
        if self.advertise is not None:
            try:
                if "://" in self.advertise:
                    raise ValueError("a URL")
                host = parse_endpoint(self.advertise, default_scheme="https").host
            except ValueError:
                raise ValueError(f'advertise: expected HOST:PORT such as "10.0.0.5:5555", '
                                 f'got "{self.advertise}"') from None
            if host in WILDCARDS:
                raise ValueError(f'advertise: "{self.advertise}" is no address a console '
                                 "can reach (expected this node's HOST:PORT)")
        if self.prefix is not None and (not self.prefix.startswith("/")
                                        or self.prefix.endswith("/") or "//" in self.prefix):
            raise ValueError(f'prefix: expected /A/B with no trailing "/", got "{self.prefix}"')

    @property
    def key_prefix(self) -> str:
        return self.prefix if self.prefix is not None else f"/ringleader/{self.cluster}"

    @property
    def settle_seconds(self) -> float:
        return float(self.ttl) if self.settle is None else self.settle


def shown(settings: ClusterSettings) -> dict[str, Any]:
    """The settings as plain data for display (``check``): the password as ``***``."""
    data: dict[str, Any] = msgspec.to_builtins(settings)
    if data["etcd"].get("password") is not None:
        data["etcd"]["password"] = "***"
    return data


def _nul_in(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\0" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        found = _nul_in(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def settings_from_dict(data: dict[str, Any], *, where: str = "[cluster]",
                       base_dir: str | None = None) -> ClusterSettings:
    """The ``[cluster]`` table -> ClusterSettings; ConfigError with one line per problem.
    ``etcd`` is the list of endpoints; the other etcd options sit beside it. With
    ``base_dir``, relative TLS file paths are relative to it (the config file's folder)."""
    options = dict(data)
    nul = _nul_in(options, "")
    if nul is not None:
        raise ConfigError([f"{where} {nul}: contains a NUL character (expected text "
                           "without NUL)"])
    if base_dir is not None:
        for key in TLS_FILES:
            value = options.get(key)
            if isinstance(value, str) and value.strip():
                options[key] = os.path.normpath(os.path.join(base_dir,
                                                             os.path.expanduser(value)))
    etcd_keys = set(EtcdSettings.__struct_fields__) - {"endpoints"}
    problems = [f"{where} {key}: unknown option" for key in options
                if key not in etcd_keys and key not in ClusterSettings.__struct_fields__]
    labels = options.get("labels")
    if isinstance(labels, dict):
        problems += [f"{where} labels.{key}: not a label name (A-Z a-z 0-9 _ . - /)"
                     for key in labels if not re.match(LABEL_PATTERN, str(key))]
    endpoints = options.pop("etcd", None)
    if endpoints is None:
        problems.append(f"{where} etcd: missing (expected a list of endpoints such as "
                        '["http://127.0.0.1:2379"])')
    if problems:
        raise ConfigError(problems)
    etcd = {k: options.pop(k) for k in list(options) if k in etcd_keys}
    etcd["endpoints"] = [endpoints] if isinstance(endpoints, str) else endpoints
    try:
        return msgspec.convert({**options, "etcd": etcd}, ClusterSettings)
    except msgspec.ValidationError as exc:
        text, _, path = str(exc).partition(" - at `$")
        path = path.rstrip("`").lstrip(".")
        path = "etcd" if path.startswith("etcd.endpoints") else path.removeprefix("etcd.")
        if path in ("", "etcd") and not text.startswith("Expected"):
            raise ConfigError([f"{where} {text}"]) from None  # "FIELD: ..." of a rule
        text = text[:1].lower() + text[1:]
        raise ConfigError([f"{where} {path}: {text}" if path else f"{where}: {text}"]
                          ) from None
