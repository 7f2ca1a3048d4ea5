# System-wide jupyter_server configuration of the jupyssh test/sandbox image.
# The token comes from $JUPYTER_TOKEN (read by jupyter_server's IdentityProvider);
# the entrypoint refuses to start without one. IOPub rate limits stay at their defaults.
c = get_config()  # type: ignore[name-defined]  # noqa: F821

# All interfaces inside the container; the harness publishes the port on 127.0.0.1 only.
c.ServerApp.ip = "0.0.0.0"  # noqa: S104
c.ServerApp.port = 8888
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.allow_remote_access = True  # requests arrive from the docker gateway
c.ServerApp.root_dir = "/srv/jupyter"
c.ServerApp.terminals_enabled = True
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "-l"]}
c.ServerApp.log_level = "INFO"
