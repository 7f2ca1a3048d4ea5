"""jupyssh-hub: two users of a sandbox JupyterHub log in, each into their own server."""

from __future__ import annotations

import subprocess
import time

from .._common import log
from ..containers import SANDBOX_LABEL
from ..demo import Demo
from ..images import prepare
from ..jupyterhub import start_jupyterhub
from ..openssh import pinned_argv
from .serving import fresh_workdir_and_key, serving

PACKAGE = "jupyssh-hub"
MODULE = "jupyssh.hub"
TITLE = "one SSH endpoint for every user of a JupyterHub"

USERS = ("alice", "bob")


def run(demo: Demo) -> None:
    workdir, alice_key = fresh_workdir_and_key(demo, "hub")
    bob_key = workdir / "bob_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bob", "-f", str(bob_key)],
        check=True,
        timeout=30,
    )
    keys = {"alice": alice_key, "bob": bob_key}
    started = time.monotonic()
    image = prepare(("hub",))["hub"].tag
    with start_jupyterhub(image, role_label=SANDBOX_LABEL) as hub:
        demo.say(
            f"A sandbox JupyterHub at {hub.url}: users alice and bob, each with a public "
            "key in ~/.ssh/authorized_keys of their own server, their servers started"
        )
        for user in USERS:
            hub.authorize(user, keys[user].with_suffix(".pub").read_text().strip())
            hub.start_server(user)
        log(f"demo: sandbox hub up, two servers running ({time.monotonic() - started:.1f}s)")

        intro = (
            "Serve SSH for the whole hub, as its `jupyssh` service (its token from "
            "$JUPYTERHUB_API_TOKEN, the hub's API from $JUPYTERHUB_API_URL)"
        )
        env = {"JUPYTERHUB_API_TOKEN": hub.service_token, "JUPYTERHUB_API_URL": hub.api_url}
        with serving(
            demo, "hub", workdir, intro, options=["--listen", "127.0.0.1:0"], env=env
        ) as served:
            for user in USERS:
                demo.say(f"{user} logs in with their own key: it runs as {user}, in their server")
                ssh = pinned_argv("ssh", served.known_hosts, keys[user], port=served.port)
                demo.shell([*ssh, "-T", f"{user}@127.0.0.1", "whoami; echo $JUPYTERHUB_USER; pwd"])

            demo.say("bob's key is not alice's: refused, with one line saying where keys go")
            ssh = pinned_argv("ssh", served.known_hosts, bob_key, port=served.port)
            demo.shell([*ssh, "-T", "alice@127.0.0.1", "whoami"], expect=255)
    print("hub service stopped; sandbox hub removed", flush=True)
