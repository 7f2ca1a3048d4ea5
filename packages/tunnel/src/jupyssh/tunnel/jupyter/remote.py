"""What runs on the remote host for ``tunnel jupyter``: find, launch and stop Jupyter servers.

Every script is POSIX ``sh`` fed on stdin (nothing is written to the remote disk but the
server's own log and socket) and runs inside the user's *login* environment, because
conda, ``module load`` and ``~/.local/bin`` usually put ``jupyter`` on PATH only there.

Finding servers reads the runtime folder's ``jpserver-*.json`` files with ``cat``: never
``jupyter server list``, which deletes every record whose pid is not alive *on the node
where it runs*; on a cluster with a shared home, running it on the login node erases the
records of servers running on compute nodes.

The token of a launched server is generated here, travels inside the script on ssh's
stdin and reaches the server through its environment (``JUPYTER_TOKEN``), so it never
shows in any ``ps`` listing on either side.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from jupyssh.core.errors import JupyterError, RemoteCommandError
from jupyssh.core.ssh import AsyncSSHHost

__all__ = [
    "LOGIN_SHELL",
    "Discovery",
    "Launched",
    "ServerRecord",
    "discover_servers",
    "launch_server",
    "parse_discovery",
    "stop_server",
]

#: Run the script on stdin with ``sh`` inside the user's login environment. C shells take
#: ``-l`` only as their sole flag, so there the script runs in a plain ``sh -l``.
LOGIN_SHELL = (
    "sh",
    "-c",
    'case "${SHELL:-/bin/sh}" in *csh) exec sh -l -s ;; esac; '
    'exec "${SHELL:-/bin/sh}" -l -c "exec sh -s"',
)

_RUNTIME_DIR = """
dir=$(jupyter --runtime-dir 2>/dev/null) || dir=""
[ -n "$dir" ] || dir="${JUPYTER_RUNTIME_DIR:-$HOME/.local/share/jupyter/runtime}"
"""

_DISCOVER = (
    "set -u\n"
    + _RUNTIME_DIR
    + r"""
printf 'jupyssh-runtime-dir %s\n' "$dir"
for f in "$dir"/jpserver-*.json "$dir"/nbserver-*.json; do
    [ -f "$f" ] || continue
    pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    alive=no
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then alive=yes; fi
    printf 'jupyssh-record %s %s\n' "$alive" "$f"
    cat "$f"
    printf '\njupyssh-end\n'
done
"""
)

_LAUNCH = (
    "set -eu\numask 077\n"
    + _RUNTIME_DIR
    + r"""
command -v jupyter >/dev/null 2>&1 || { echo "jupyssh-error no-jupyter" >&2; exit 3; }
state="${XDG_CACHE_HOME:-$HOME/.cache}/jupyssh/tunnel"
mkdir -p "$state" && chmod 700 "$state"
log="$state/jupyter-$ID.log"
sock=""
if [ "$WANT_SOCK" = yes ] \
    && jupyter server --help-all 2>/dev/null | grep -q -- '--ServerApp.sock='; then
    sock="$state/jupyter-$ID.sock"
    set -- --ServerApp.sock="$sock" --ServerApp.sock_mode=0600
else
    set -- --ServerApp.ip=127.0.0.1 --ServerApp.port=0
fi
export JUPYTER_TOKEN
cd
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=""; fi
# setsid and nohup exec the server, so $! is the server's own pid.
nohup $detach jupyter server --no-browser --ServerApp.open_browser=False "$@" \
    </dev/null >"$log" 2>&1 &
pid=$!
file="$dir/jpserver-$pid.json"
i=0
while [ ! -s "$file" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "jupyssh-error server-exited" >&2; tail -n 5 "$log" >&2; exit 4
    fi
    i=$((i + 1))
    if [ "$i" -gt "$WAIT_STEPS" ]; then
        kill "$pid" 2>/dev/null || true
        echo "jupyssh-error server-slow" >&2; tail -n 5 "$log" >&2; exit 5
    fi
    sleep 0.2
done
sleep 0.2
printf 'jupyssh-launched %s %s\n' "$pid" "$sock"
printf 'jupyssh-record yes %s\n' "$file"
cat "$file"
printf '\njupyssh-end\n'
"""
)

_STOP = r"""
set -u
args=$(ps -p "$PID" -o args= 2>/dev/null) || args=""
case "$args" in
    *jupyter*) ;;
    *) echo "jupyssh-gone"; exit 0 ;;
esac
kill -TERM "$PID" 2>/dev/null || true
i=0
while kill -0 "$PID" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
state="${XDG_CACHE_HOME:-$HOME/.cache}/jupyssh/tunnel"
rm -f "$state/jupyter-$ID.sock" "$state/jupyter-$ID.log"
echo "jupyssh-stopped"
"""

#: Seconds a launched server may take to write its runtime file.
LAUNCH_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ServerRecord:
    """One ``jpserver-*.json`` file: where a Jupyter server listens and its token.

    Read from the remote runtime folder; ``alive`` says whether its pid runs on the node
    the record was read on (on a shared home, another node's server reads as not alive).
    """

    path: str
    alive: bool
    pid: int
    port: int
    sock: str
    base_url: str
    hostname: str
    secure: bool
    password: bool
    version: str
    token: str

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return (
            f"ServerRecord(path={self.path!r}, pid={self.pid}, port={self.port}, "
            f"sock={self.sock!r}, alive={self.alive})"
        )

    @classmethod
    def from_json(cls, path: str, alive: bool, data: dict[str, Any]) -> ServerRecord:
        base_url = str(data.get("base_url") or "/")
        if not base_url.endswith("/"):
            base_url += "/"
        return cls(
            path=path,
            alive=alive,
            pid=int(data.get("pid") or 0),
            port=int(data.get("port") or 0),
            sock=str(data.get("sock") or ""),
            base_url=base_url,
            hostname=str(data.get("hostname") or "localhost"),
            secure=bool(data.get("secure")),
            password=bool(data.get("password")),
            version=str(data.get("version") or ""),
            token=str(data.get("token") or ""),
        )

    def remote_target(self) -> str | tuple[str, int]:
        """What a local forward should reach on the host: the socket, else the TCP port."""
        if self.sock:
            return self.sock
        host = self.hostname
        # A server on every interface (or "localhost", which may resolve to ::1 first) is
        # reached on the loopback address of the host itself.
        if host in {"", "0.0.0.0", "::", "localhost"}:  # noqa: S104 - a wildcard, compared
            host = "127.0.0.1"
        return (host, self.port)

    def to_dict(self) -> dict[str, Any]:
        """The record without its token, for ``--json`` output."""
        return {
            "path": self.path,
            "alive": self.alive,
            "pid": self.pid,
            "port": self.port,
            "sock": self.sock,
            "base_url": self.base_url,
            "secure": self.secure,
            "password": self.password,
            "version": self.version,
        }


@dataclass(frozen=True)
class Discovery:
    """What the remote runtime folder held."""

    runtime_dir: str
    records: list[ServerRecord]

    def candidates(self) -> list[ServerRecord]:
        """The records worth a probe: live ones first, newest (highest pid) first."""
        return sorted(self.records, key=lambda r: (not r.alive, -r.pid))


def parse_discovery(text: str) -> Discovery:
    """Parse what the discovery (or launch) script printed. Unreadable records are skipped:
    a half-written file of a server that is starting is not an error."""
    runtime_dir = ""
    records: list[ServerRecord] = []
    header: tuple[bool, str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        if header is None:
            if line.startswith("jupyssh-runtime-dir "):
                runtime_dir = line.split(" ", 1)[1]
            elif line.startswith("jupyssh-record "):
                _, alive, path = line.split(" ", 2)
                header, body = (alive == "yes", path), []
            continue
        if line == "jupyssh-end":
            record = _record(header[1], header[0], "\n".join(body))
            if record is not None:
                records.append(record)
            header = None
        else:
            body.append(line)
    return Discovery(runtime_dir, records)


def _record(path: str, alive: bool, body: str) -> ServerRecord | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return ServerRecord.from_json(path, alive, data)
    except (TypeError, ValueError):
        return None


async def discover_servers(host: AsyncSSHHost, *, timeout: float = 60.0) -> Discovery:
    """Read the Jupyter server records on ``host`` (called by :func:`open_jupyter`)."""
    done = await host.run_script(_DISCOVER, interpreter=LOGIN_SHELL, timeout=timeout)
    return parse_discovery(done.stdout_text)


@dataclass(frozen=True)
class Launched:
    """A server this package started: its pid, the id naming its files, its record."""

    pid: int
    launch_id: str
    record: ServerRecord


async def launch_server(
    host: AsyncSSHHost,
    *,
    launch_id: str,
    token: str,
    unix_socket: bool = True,
    timeout: float = LAUNCH_TIMEOUT_S,
) -> Launched:
    """Start ``jupyter server`` on ``host`` with ``token``, detached, on a Unix socket when
    the server supports one (else 127.0.0.1 and a free port); wait for its runtime file.

    Called by :func:`open_jupyter` with ``--launch``. ``launch_id`` (hex) names the
    server's socket and log under ``~/.cache/jupyssh/tunnel`` on the host.
    """
    if not launch_id.isalnum() or not token.isalnum():
        raise ValueError("launch_id and token must be alphanumeric")
    preamble = (
        f"ID={shlex.quote(launch_id)}\n"
        f"JUPYTER_TOKEN={shlex.quote(token)}\n"
        f"WANT_SOCK={'yes' if unix_socket else 'no'}\n"
        f"WAIT_STEPS={round(timeout / 0.2)}\n"
    )
    try:
        done = await host.run_script(
            preamble + _LAUNCH, interpreter=LOGIN_SHELL, timeout=timeout + 30
        )
    except RemoteCommandError as exc:
        raise _launch_error(exc, host.destination) from None
    launched_pid, record = 0, None
    for line in done.stdout_text.splitlines():
        if line.startswith("jupyssh-launched "):
            launched_pid = int(line.split()[1])
    found = parse_discovery(done.stdout_text).records
    record = found[0] if found else None
    if not launched_pid or record is None:
        raise JupyterError(
            "the Jupyter server started but its runtime file could not be read",
            where=host.destination,
            hint="see ~/.cache/jupyssh/tunnel/jupyter-*.log on the host",
        )
    return Launched(launched_pid, launch_id, record)


def _launch_error(exc: RemoteCommandError, where: str) -> JupyterError:
    reasons = {
        3: (
            "`jupyter` is not on PATH in a login shell on the host",
            "install jupyter_server there, or activate its environment in ~/.profile",
        ),
        4: ("the Jupyter server exited right after it started", "see its last lines above"),
        5: ("the Jupyter server did not start in time", "the host may be overloaded"),
    }
    message, hint = reasons.get(
        exc.returncode, (f"launching the Jupyter server failed: {exc.message}", None)
    )
    tail = exc.stderr.strip()
    if tail and exc.returncode in (4, 5):
        message = f"{message}: {tail}"
    return JupyterError(message, where=where, hint=hint)


async def stop_server(
    host: AsyncSSHHost, *, pid: int, launch_id: str, timeout: float = 30.0
) -> bool:
    """Stop a server :func:`launch_server` started (TERM, then KILL after 10 s) and remove
    its socket and log. Returns False when no Jupyter process had that pid any more.
    Called by :func:`stop_jupyter`."""
    if not launch_id.isalnum():
        raise ValueError("launch_id must be alphanumeric")
    preamble = f"PID={int(pid)}\nID={shlex.quote(launch_id)}\n"
    done = await host.run_script(preamble + _STOP, interpreter=("sh", "-s"), timeout=timeout)
    return "jupyssh-stopped" in done.stdout_text
