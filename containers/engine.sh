#!/bin/sh
# Make a container engine available for the integration tests and the demo sandbox.
#
#   containers/engine.sh
#
# - `docker info` already works: nothing to do.
# - root on Debian/Ubuntu (apt): install docker.io if dockerd is missing, start dockerd in
#   the background (log: /var/log/jupyssh-dockerd.log), wait up to 90 s for `docker info`.
# - anything else: fail with what to install or start.
#
# Idempotent and quiet on success; prints progress only while it installs or waits.
# Environment: JUPYSSH_DOCKERD_TIMEOUT (seconds, default 90), JUPYSSH_DOCKERD_LOG.
set -eu

timeout_s="${JUPYSSH_DOCKERD_TIMEOUT:-90}"
log="${JUPYSSH_DOCKERD_LOG:-/var/log/jupyssh-dockerd.log}"

say() { printf 'engine: %s\n' "$*" >&2; }
die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }

engine_ok() { docker info >/dev/null 2>&1; }
dockerd_running() {
    if command -v pgrep >/dev/null 2>&1; then
        pgrep -x dockerd >/dev/null 2>&1
    else
        [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null
    fi
}

command -v docker >/dev/null 2>&1 && engine_ok && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    if command -v docker >/dev/null 2>&1; then
        die "the docker client cannot reach an engine ('docker info' fails). Start one \
(e.g. 'sudo systemctl start docker', or Docker Desktop / a rootless dockerd) and make sure \
this user may use it (the 'docker' group, or DOCKER_HOST), then re-run."
    fi
    die "no container engine. Install Docker Engine (Debian/Ubuntu: 'sudo apt-get install \
docker.io'; elsewhere https://docs.docker.com/engine/install/), start it, then re-run. \
As root on an apt-based system this script installs and starts it by itself."
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    say "installing docker.io with apt-get (once) ..."
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt_log="$(mktemp /tmp/jupyssh-apt.XXXXXX)"
    pkgs="docker.io iptables ca-certificates"
    # dockerd needs apparmor_parser when the kernel enforces AppArmor.
    if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = "Y" ]; then
        pkgs="$pkgs apparmor"
    fi
    # shellcheck disable=SC2086
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs; } \
        </dev/null >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "could not install docker.io with apt-get (full log: $apt_log)"
    fi
    rm -f "$apt_log"
fi

# A dockerd may be starting already (e.g. a previous run of this script, or systemd).
if ! dockerd_running; then
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        say "starting docker.service ..."
        systemctl start docker >/dev/null 2>&1 || true
    fi
fi
if ! dockerd_running; then
    say "starting dockerd in the background (log: $log) ..."
    # setsid: dockerd survives this shell and is not in the caller's process group.
    setsid dockerd >>"$log" 2>&1 </dev/null &
fi

waited=0
while ! engine_ok; do
    if [ "$waited" -ge "$timeout_s" ]; then
        say "last lines of $log:"
        tail -n 20 "$log" >&2 2>/dev/null || true
        die "dockerd did not answer 'docker info' within ${timeout_s}s"
    fi
    if ! dockerd_running; then
        tail -n 20 "$log" >&2 2>/dev/null || true
        die "dockerd exited during startup; see $log"
    fi
    if [ "$waited" -gt 0 ] && [ $((waited % 10)) -eq 0 ]; then
        say "waiting for dockerd (${waited}s / ${timeout_s}s) ..."
    fi
    sleep 1
    waited=$((waited + 1))
done
[ "$waited" -gt 0 ] && say "dockerd is up after ${waited}s"
exit 0
