#!/bin/sh
# Refuse to serve without a token, then exec the command (`jupyter server` by default).
set -eu
if [ -z "${JUPYTER_TOKEN:-}" ]; then
    echo "entrypoint: set JUPYTER_TOKEN (docker run -e JUPYTER_TOKEN=...)" >&2
    exit 64
fi
exec "$@"
