"""jupyssh-core: the OpenSSH driver on the sandbox alias, then the Jupyter client."""

from __future__ import annotations

import asyncio
import importlib.util

from ..demo import Demo

PACKAGE = "jupyssh-core"
MODULE = "jupyssh.core"
TITLE = "the OpenSSH driver and the Jupyter server client"


def run(demo: Demo) -> None:
    demo.say("Resolve the alias as ssh itself does (ssh -G), hop by hop")
    demo.jupyssh("host", "resolve", "-F", demo.config, demo.alias)

    demo.say("Run a remote command: every word is quoted, so `$(hostname)` stays a word")
    demo.jupyssh("host", "run", "-F", demo.config, demo.alias, "--", "echo", "$(hostname)", "a  b")
    demo.jupyssh("host", "run", "-F", demo.config, demo.alias, "hostname")

    demo.say("A control master: started once, shared by every later command, then stopped")
    demo.jupyssh("host", "master", "start", "-F", demo.config, demo.alias)
    demo.jupyssh("host", "master", "check", "-F", demo.config, demo.alias)
    demo.jupyssh("host", "master", "stop", "-F", demo.config, demo.alias)

    demo.say("The remote status comes back as the exit status")
    demo.jupyssh("host", "run", "-F", demo.config, demo.alias, "--", "sh", "-c", "exit 3", expect=3)

    demo.say("A failure is one clear line and a documented exit code (4: ssh could not connect)")
    demo.jupyssh("host", "run", "-F", demo.config, "no-such-host.invalid", "true", expect=4)

    if importlib.util.find_spec("httpx") is None or importlib.util.find_spec("websockets") is None:
        demo.say("jupyssh-core[jupyter] is not installed: the Jupyter client is left out")
        return
    demo.say("The Jupyter client: the token goes in a header, never in a log")
    asyncio.run(_jupyter(demo))


async def _jupyter(demo: Demo) -> None:
    from jupyssh.core.jupyter import JupyterClient

    server = demo.sandbox.jupyter
    print(f">>> JupyterClient({server.url!r}, token=<from the sandbox>)")
    async with JupyterClient.from_url(server.url, token=server.token, prompt=None) as client:
        status = await client.status()
        print(f">>> await client.status()\n{dict(status)}")
        async with client.kernel("python3") as kernel:
            result = await kernel.execute("import socket; socket.gethostname(), 1 + 1")
            print(">>> await kernel.execute('import socket; socket.gethostname(), 1 + 1')")
            print(result.result)
