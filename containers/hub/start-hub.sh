#!/bin/sh
# The hub's entry point: install the project's wheels when the harness mounts them (for the
# managed jupyssh service, $JUPYSSH_MANAGED=1), then run JupyterHub.
set -eu
wheels=/opt/jupyssh-wheels
if [ -d "$wheels" ] && ls "$wheels"/*.whl >/dev/null 2>&1; then
    /opt/venv/bin/pip install --quiet --no-deps --no-index "$wheels"/*.whl
fi
exec jupyterhub -f /etc/jupyterhub/jupyterhub_config.py
