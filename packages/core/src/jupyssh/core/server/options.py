"""The command-line options every jupyssh SSH server shares, declared once.

``jupyssh bridge serve`` and ``jupyssh sftp serve`` both listen for SSH clients in front
of a Jupyter server, and ``jupyssh hub serve`` in front of every server of a hub. Their
common options — where to listen, which keys, the limits of
:class:`~jupyssh.core.server.ServerConfig` and (for one server) the Jupyter URL — live here,
with the one ``--listen`` parser and the check of the Jupyter server made before listening::

    @sftp.command()
    @server_options(default_port=2022)
    def serve(*, jupyter_url: str, server_config: ServerConfig, ...) -> None:
        client = connect_jupyter(jupyter_url)   # refuses a wrong token at once
        ...

Defaults come from :class:`ServerConfig`'s own, so the library and the command line
agree. Needs both extras, ``server`` and ``jupyter``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from jupyssh.core.errors import ConfigError
from jupyssh.core.jupyter import JupyterClient, parse_server_url, resolve_token
from jupyssh.core.server.base import ServerConfig
from jupyssh.core.server.limits import MaxStartups

__all__ = [
    "JupyterFacts",
    "announce",
    "connect_jupyter",
    "parse_listen",
    "server_options",
]

logger = logging.getLogger(__name__)

_R = TypeVar("_R")
_DEFAULTS = ServerConfig()
_LISTEN_HINT = "use HOST:PORT, [IPv6]:PORT or PORT, e.g. 127.0.0.1:2022 (port 0 picks one)"


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` (on 127.0.0.1) into (host, port);
    an empty host is 127.0.0.1.

    :raises ConfigError: anything else, or a port outside 0-65535.
    """
    text = value.strip()
    host, port = "127.0.0.1", text
    if text.startswith("["):
        inner, bracket, rest = text[1:].partition("]")
        host, colon, port = inner, rest[:1], rest[1:]
        if not bracket or colon != ":":
            port = ""
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"--listen {value!r}: expected HOST:PORT with a port 0-65535", hint=_LISTEN_HINT
        )
    return host or "127.0.0.1", int(port)


def _max_startups(_ctx: click.Context, _param: click.Parameter, value: str) -> MaxStartups:
    try:
        return MaxStartups.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_JUPYTER_URL_HELP = (
    "The Jupyter server, e.g. http://127.0.0.1:8888/. Give its token in $JUPYTER_TOKEN "
    "(or type it when asked): a ?token= in this URL shows in `ps` to every local user."
)


_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _limit(
    name: str, kind: click.IntRange | click.FloatRange, default: object, help: str
) -> _Decorator:
    return click.option(name, type=kind, default=default, show_default=True, help=help)


def _options(
    default_port: int, max_channels: int, login_grace_time: float | None, *, one_server: bool
) -> list[_Decorator]:
    jupyter = [click.option("--jupyter-url", required=True, help=_JUPYTER_URL_HELP)]
    keys = [
        click.option(
            "--authorized-keys",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Public keys that may log in (default ~/.ssh/authorized_keys).",
        )
    ]
    return [
        *(jupyter if one_server else []),
        click.option(
            "--listen",
            default=f"127.0.0.1:{default_port}",
            show_default=True,
            help="Address to listen on: HOST:PORT, [IPv6]:PORT or PORT (0 picks a free one).",
        ),
        *(keys if one_server else []),
        click.option(
            "--host-key",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="ed25519 host key file, created if missing "
            "(default: jupyssh's per-installation key).",
        ),
        click.option(
            "--allow-non-loopback",
            is_flag=True,
            help="Allow a listen address other machines can reach.",
        ),
        _limit(
            "--max-connections",
            click.IntRange(min=1),
            _DEFAULTS.max_connections,
            "Authenticated connections at once.",
        ),
        click.option(
            "--max-startups",
            metavar="START:RATE:FULL",
            default=str(_DEFAULTS.max_startups),
            callback=_max_startups,
            show_default=True,
            help="Unauthenticated connections, as sshd's MaxStartups: from START on, new "
            "ones are dropped with RATE%% chance, rising to all at FULL.",
        ),
        _limit(
            "--max-startups-per-source",
            click.IntRange(min=1),
            _DEFAULTS.max_startups_per_source,
            "Unauthenticated connections from one client address.",
        ),
        _limit(
            "--login-grace-time",
            click.FloatRange(min=0, min_open=True),
            login_grace_time,
            "Seconds a client has to authenticate"
            + ("." if login_grace_time is not None else " (default: as the command says)."),
        ),
        _limit(
            "--idle-timeout",
            click.FloatRange(min=0),
            _DEFAULTS.idle_timeout,
            "Close a connection that has had no open channel (shell, command, sftp) "
            "for this many seconds; 0 never does.",
        ),
        _limit(
            "--max-channels",
            click.IntRange(min=1),
            max_channels,
            "Channels (shells, commands, sftp sessions, forwarded connections) one "
            "connection may have open.",
        ),
    ]


_NAMES = (
    "listen",
    "host_key",
    "allow_non_loopback",
    "max_connections",
    "max_startups",
    "max_startups_per_source",
    "login_grace_time",
    "idle_timeout",
    "max_channels",
)


def server_options(
    *,
    default_port: int,
    max_channels: int = _DEFAULTS.max_channels,
    login_grace_time: float | None = _DEFAULTS.login_grace_time,
    one_server: bool = True,
) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Add ``--jupyter-url``, ``--listen`` (on ``default_port``), ``--authorized-keys``,
    ``--host-key``, ``--allow-non-loopback`` and the limits to a click command
    (``--max-channels`` defaulting to ``max_channels``: a server whose clients keep many
    forwarded connections open, the bridge, allows more than one serving sessions).

    The command receives ``jupyter_url`` and one ``server_config`` (:class:`ServerConfig`)
    instead of the separate values. With ``one_server=False`` (the hub: each user's server
    and keys are found at login) there is no ``--jupyter-url`` nor ``--authorized-keys``.
    With ``login_grace_time=None`` the command derives it: it receives ``login_grace_time``
    (None unless given on the command line) beside a ``server_config`` holding the default.
    """
    names = _NAMES + (("authorized_keys",) if one_server else ())
    options = _options(default_port, max_channels, login_grace_time, one_server=one_server)

    def decorate(command: Callable[..., _R]) -> Callable[..., _R]:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> _R:
            values = {name: kwargs.pop(name) for name in names}
            if login_grace_time is None:  # the command's to derive
                kwargs["login_grace_time"] = values.pop("login_grace_time")
            kwargs["server_config"] = _server_config(**values)
            return command(*args, **kwargs)

        decorated: Callable[..., _R] = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


def _server_config(
    *, listen: str, idle_timeout: float, max_startups: MaxStartups, **values: Any
) -> ServerConfig:
    host, port = parse_listen(listen)
    return ServerConfig(
        host=host,
        port=port,
        idle_timeout=idle_timeout or None,
        max_startups=max_startups,
        **values,
    )


@dataclass(frozen=True)
class JupyterFacts:
    """What :func:`connect_jupyter` learnt of the server before the SSH server listens."""

    version: str
    kernel_names: tuple[str, ...] = ()
    default_kernel: str | None = None


def connect_jupyter(
    url: str, *, kernel_name: str | None = None, kernels: bool = False
) -> tuple[JupyterClient, JupyterFacts]:
    """A client for the Jupyter server at ``url``, proven to work before anything listens.

    The token comes from the URL, ``$JUPYTER_TOKEN`` or a prompt (a token in the URL is
    warned about: it shows in ``ps``). Then ``/api/status`` is asked — it needs the token,
    unlike ``/api`` — and with ``kernels`` the kernel specs, checking that
    ``kernel_name`` (if given) is one of them. A throwaway client on a throwaway loop does
    the asking, so the returned client is fresh for the caller's own loop.

    :raises ConfigError: no token; ``kernel_name`` unknown to the server.
    :raises JupyterError: unreachable, wrong token (:class:`JupyterAuthError`), not Jupyter.
    """
    server = parse_server_url(url)
    if server.token:
        logger.warning(
            "the --jupyter-url carries a token, which other local users can read in `ps` "
            "while the server runs; give it in $JUPYTER_TOKEN instead"
        )
    token = resolve_token(server.token, where=server.base_url)
    facts = asyncio.run(_check(JupyterClient(server, token=token), kernel_name, kernels=kernels))
    return JupyterClient(server, token=token), facts


async def _check(client: JupyterClient, kernel_name: str | None, *, kernels: bool) -> JupyterFacts:
    async with client:
        version = await client.version()
        await client.status()  # authenticated: a wrong token fails here
        if not kernels:
            return JupyterFacts(version)
        specs = await client.kernelspecs()
    names = tuple(sorted(specs.get("kernelspecs", {})))
    if kernel_name is not None and kernel_name not in names:
        raise ConfigError(
            f"the Jupyter server has no kernel spec {kernel_name!r}",
            where=client.base_url,
            hint=f"use one of: {', '.join(names) or '(none)'}",
        )
    return JupyterFacts(version, names, specs.get("default"))


def announce(name: str, facts: dict[str, Any], *extra: str) -> None:
    """The human form of a ``serve`` command's facts: on stdout, where ``--json`` puts
    them too (logs go to stderr)."""
    for line in (
        f"{name} serving {facts['jupyter']} on {facts['listen']}",
        f"host key {facts['host_key_fingerprint']}",
        f"known_hosts: {facts['known_hosts']}",
        *extra,
    ):
        click.echo(line)
