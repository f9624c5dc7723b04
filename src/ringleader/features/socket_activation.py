"""systemd socket activation of a child: its sockets at fds 3, 4, ... with ``LISTEN_FDS``,
``LISTEN_FDNAMES`` and ``LISTEN_PID`` (see ``sockets.SocketSet.activation_env``).

Children start through ``subprocess.Popen`` (vfork + exec, no ``preexec_fn``): the parent
can neither dup2 into fds 3.. nor know the pid before exec (``LISTEN_PID`` must be the
program's own pid). A tiny shell trampoline does both, then ``exec``s the program."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence

SD_LISTEN_FDS_START = 3
# Variables the trampoline shell adds on its own, removed again when the child's env did
# not have them (see activation_argv). bash's `exec` re-exports SHLVL whatever we do:
# without one in the env, the program sees SHLVL=0.
_SHELL_VARS = ("PWD", "OLDPWD")


def _shell_for(fds: Sequence[int]) -> list[str] | None:
    # dash (Debian's /bin/sh) only knows single-digit fds; bash knows any. `-p`: no
    # $BASH_ENV / $ENV startup file, no function import from the environment.
    if _BASH is not None:
        return [_BASH, "-p", "-c"]
    if all(fd <= 9 for fd in fds):
        return ["/bin/sh", "-c"]
    return None


def activation_argv(fds: Sequence[int], argv: Sequence[str],
                    env: Mapping[str, str] | None = None) -> list[str]:
    """The trampoline for passed fds `fds` (in LISTEN_FDS order); see
    SocketSet.activation_argv."""
    if not fds:
        return list(argv)
    targets = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + len(fds)))
    moves: list[str] = []
    clobbered = set(targets)
    if any(src in clobbered and src != dst for src, dst in zip(fds, targets, strict=True)):
        # A source sits on another socket's target: copy all to free fds above everything
        # first, then into place (SocketSet's fds never need this; see bind_all).
        base = max(*fds, *targets) + 1
        temps = [base + i for i in range(len(fds))]
        moves.append(" ".join(f"{t}<&{s}" for s, t in zip(fds, temps, strict=True)))
        moves.append(" ".join(f"{d}<&{t}" for t, d in zip(temps, targets, strict=True))
                     + " " + " ".join(f"{t}<&-" for t in temps))
        used = [*fds, *temps]
    else:
        pairs = [f"{d}<&{s}" for s, d in zip(fds, targets, strict=True) if s != d]
        if pairs:
            moves.append(" ".join(pairs))
        used = list(fds)
    shell = _shell_for([*used, *targets])
    if shell is None:
        return _python_trampoline(fds, argv)
    script = [f"exec {m}" for m in moves]
    if env is not None:
        extra = [v for v in _SHELL_VARS if v not in env]
        if extra:
            script.append("unset " + " ".join(extra))
    # $$ is the shell's pid, which `exec` hands on to the program: sd_listen_fds() checks it.
    script.append('LISTEN_PID=$$; export LISTEN_PID; exec "$@"')
    return [*shell, "; ".join(script), "ringleader-listen", *argv]


# No POSIX shell with multi-digit fds (no bash): the same in Python, slower to start.
# /proc/self/environ is the environment as exec'd, before Python's own changes (C-locale
# coercion may add LC_CTYPE); execve hands exactly that on, plus LISTEN_PID.
_PY_TRAMPOLINE = """\
import fcntl, os, sys
n = int(sys.argv[1]); fds = [int(x) for x in sys.argv[2:2 + n]]
base = max(fds + [2 + n]) + 1
tmp = [fcntl.fcntl(f, fcntl.F_DUPFD_CLOEXEC, base) for f in fds]
for i, t in enumerate(tmp):
    os.dup2(t, 3 + i)
for t in tmp:
    os.close(t)
with open('/proc/self/environ', 'rb') as f:
    env = dict(e.split(b'=', 1) for e in f.read().split(b'\\0') if b'=' in e)
env[b'LISTEN_PID'] = str(os.getpid()).encode()
argv = sys.argv[2 + n:]
os.execvpe(argv[0], argv, env)
"""


def _python_trampoline(fds: Sequence[int], argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", _PY_TRAMPOLINE, str(len(fds)),
            *map(str, fds), *argv]


_BASH = shutil.which("bash", path="/usr/bin:/bin:/usr/local/bin")
