"""Acceptance 1 of issue 12: ``ssh alice@…`` runs as alice in alice's server, bob likewise,
authenticated by the keys each keeps in their own server; and the first refusals."""

from __future__ import annotations

from jupyssh_harness import JupyterHub, KeyPair

from .conftest import HubEndpoint, authorize, stream_sha256

WHO = "whoami; echo $JUPYTERHUB_USER; pwd"


def test_alice_and_bob_each_run_in_their_own_server(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    for user in ("alice", "bob"):
        hub.start_server(user)
        authorize(hub, user, user_keys[user])

    for user in ("alice", "bob"):
        result = endpoint.run(user, user_keys[user].private_key, WHO)

        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode().split() == [user, user, f"/home/{user}"]


def test_exit_status_and_stderr_come_back_apart(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    hub.start_server("alice")
    authorize(hub, "alice", user_keys["alice"])

    result = endpoint.run("alice", user_keys["alice"].private_key, "echo out; echo err >&2; exit 7")

    assert result.returncode == 7
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_alices_key_is_refused_for_bob(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    for user in ("alice", "bob"):
        hub.start_server(user)
        authorize(hub, user, user_keys[user])

    result = endpoint.run("bob", user_keys["alice"].private_key, "whoami")

    assert result.returncode == 255
    assert b"Permission denied" in result.stderr
    assert result.stdout == b""


def test_a_user_without_keys_or_unknown_to_the_hub_is_refused(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    hub.start_server("carol")  # carol keeps no authorized_keys

    no_keys = endpoint.run("carol", user_keys["carol"].private_key, "whoami")
    unknown = endpoint.run("mallory", user_keys["alice"].private_key, "whoami")
    path = endpoint.run("../alice", user_keys["alice"].private_key, "whoami")

    for result in (no_keys, unknown, path):
        assert result.returncode == 255
        assert b"Permission denied" in result.stderr


def test_a_user_without_keys_gets_one_line_saying_where_to_put_them(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    hub.start_server("carol")  # carol keeps no authorized_keys

    result = endpoint.run("carol", user_keys["carol"].private_key, "whoami")
    unknown = endpoint.run("mallory", user_keys["carol"].private_key, "whoami")

    reason = [line for line in result.stderr.decode().splitlines() if "jupyssh-hub" in line]
    assert reason == [
        "jupyssh-hub: no key of yours may log in as carol: put your public key in "
        "~/.ssh/authorized_keys in your server on the hub, then log in again"
    ]
    # the same line for a name the hub does not know: it tells nobody who exists
    assert "no key of yours may log in as mallory" in unknown.stderr.decode()


def test_a_50_mb_stream_arrives_byte_exact(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    hub.start_server("bob")
    authorize(hub, "bob", user_keys["bob"])

    _, received = stream_sha256(endpoint, "bob", user_keys["bob"].private_key, 50 * 2**20)

    assert received == 50 * 2**20


def test_alice_colon_name_is_alices_named_server_started_at_login(
    hub: JupyterHub, endpoint: HubEndpoint, user_keys: dict[str, KeyPair]
) -> None:
    hub.start_server("alice")
    authorize(hub, "alice", user_keys["alice"])  # one home: the named server reads it too
    hub.stop_server("alice", server_name="gpu")

    result = endpoint.run(
        "alice:gpu", user_keys["alice"].private_key, "whoami; echo $JUPYTERHUB_SERVER_NAME"
    )

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == ["alice", "gpu"]
    assert "jupyssh-hub: starting alice's server gpu on the hub ..." in result.stderr.decode()
    assert hub.server_state("alice", "gpu") is not None
