# JupyterHub configuration of the jupyssh test/sandbox hub (containers/hub).
# Services' tokens come from the environment; the hub refuses to start without them.
import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821


def _token(name: str) -> str:
    value = os.environ.get(name, "")
    if len(value) < 16:
        raise SystemExit(f"jupyterhub_config: set {name} (16 characters or more)")
    return value


# The proxy listens on every interface inside the container; the harness publishes it on
# 127.0.0.1 only. The hub's own API stays on the container's loopback, behind the proxy.
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_ip = "127.0.0.1"
# The database and the cookie secret: JupyterHub's defaults, in the working directory
# (/srv/jupyterhub, root's only).
c.ConfigurableHTTPProxy.command = ["configurable-http-proxy"]

# Tests log in as these users; they exist as system users of the image.
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {"alice", "bob", "carol"}

# Each user's server: the local-process spawner, as that user, in their home.
c.JupyterHub.spawner_class = "localprocess"
c.JupyterHub.allow_named_servers = True
c.Spawner.cmd = ["/opt/venv/bin/jupyterhub-singleuser"]
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.notebook_dir = "~"
c.Spawner.args = [
    "--ServerApp.terminado_settings={'shell_command': ['/bin/bash', '-l']}",
    # jupyssh-hub reads ~/.ssh/authorized_keys through the Contents API, and sftp shows
    # dot files: both need hidden files served.
    "--ContentsManager.allow_hidden=True",
]

# jupyssh-hub's service: what `jupyssh hub serve` authenticates as (run by the tests in their
# own process), or, with $JUPYSSH_MANAGED=1, run by the hub itself as the system user
# `jupyssh`: SSH on the container's 127.0.0.1:2222, SSH over WebSocket at the service's URL,
# which the hub's proxy routes /services/jupyssh/ to (JUPYTERHUB_SERVICE_URL tells the
# service where to listen). Users' servers are behind the proxy on :8000, not the hub's API.
jupyssh_service = {"name": "jupyssh", "api_token": _token("JUPYSSH_SERVICE_TOKEN")}
if os.environ.get("JUPYSSH_MANAGED") == "1":
    jupyssh_service.update(
        url="http://127.0.0.1:8022",
        user="jupyssh",
        command=[
            "/opt/venv/bin/jupyssh",
            "hub",
            "serve",
            "--listen",
            "127.0.0.1:2222",
            "--proxy-url",
            "http://127.0.0.1:8000/",
        ],
    )

c.JupyterHub.services = [
    jupyssh_service,
    # The test harness: creates users' tokens and starts and stops their servers.
    {"name": "harness", "api_token": _token("HARNESS_SERVICE_TOKEN")},
]
c.JupyterHub.load_roles = [
    {
        # Least privilege: read user names and servers, start and stop users' servers,
        # reach users' servers (their REST APIs). Nothing admin, no tokens.
        "name": "jupyssh",
        "scopes": ["read:users:name", "read:servers", "servers", "access:servers"],
        "services": ["jupyssh"],
    },
    {
        "name": "harness",
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
        "services": ["harness"],
    },
]
c.JupyterHub.log_level = "INFO"
