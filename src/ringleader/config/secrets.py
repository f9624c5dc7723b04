"""Which environment variables hold secrets: their values are never shown (``options``,
``get``, the cluster's ``apply`` difference) nor logged. One rule for the whole project."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

SECRET_NAME = re.compile(r"pass|secret|token|key|credential|auth|private|cookie|session",
                         re.I)
REDACTED = "***"
V = TypeVar("V")


def is_secret(name: str) -> bool:
    """True when a variable of this name looks like it holds a secret."""
    return bool(SECRET_NAME.search(name))


def redact_env(env: Mapping[str, V]) -> dict[str, V | str]:
    """The environment with secret-looking values replaced by ``***``."""
    return {k: (REDACTED if is_secret(k) else v) for k, v in env.items()}
