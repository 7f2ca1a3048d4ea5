#!/bin/sh
# sshd in the foreground of this script, and `jupyter server` as `sandbox` beside it when
# $JUPYTER_TOKEN is set (the token reaches the server through its environment, never argv).
# tini (PID 1) reaps; the container lives as long as sshd.
set -eu
/usr/sbin/sshd -D -e &
sshd_pid=$!
if [ -n "${JUPYTER_TOKEN:-}" ]; then
    export JUPYTER_TOKEN
    # runuser without --login keeps the environment (the token) and sets HOME/USER/SHELL;
    # bash -l then reads /etc/profile as a user's own login would, so the runtime dir is the
    # usual ~/.local/share/jupyter/runtime where `jupyter server list` looks.
    runuser -u sandbox -- bash -lc 'cd && exec jupyter server --no-browser \
        --ServerApp.ip="$0" --ServerApp.port=8888 --ServerApp.port_retries=0 \
        --ServerApp.allow_remote_access=True' "${JUPYTER_IP:-127.0.0.1}" &
fi
unset JUPYTER_TOKEN
wait "$sshd_pid"
