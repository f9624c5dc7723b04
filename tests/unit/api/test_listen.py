"""The control socket bound before the API is loaded gets the mode the server would give it."""

from __future__ import annotations

import os

import pytest

from ringleader.api.auth import Authenticator
from ringleader.api.listen import unix_socket_mode
from ringleader.config.model import ControllerConfig


@pytest.mark.parametrize("options", [
    {}, {"allowed_uids": [0]}, {"allowed_uids": [os.getuid()]}, {"allowed_uids": [12345]},
    {"allowed_groups": [0]}, {"allowed_uids": [0, 4242], "allowed_groups": []},
])
def test_the_mode_follows_the_authenticators_rule(options: dict[str, list[int]]) -> None:
    config = ControllerConfig(**options)  # type: ignore[arg-type]
    shared = Authenticator(config).unix_socket_shared
    assert unix_socket_mode(config) == (0o666 if shared else 0o600)
