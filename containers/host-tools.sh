#!/bin/sh
# Install the client programs the integration tests drive on the host, when missing.
#
#   containers/host-tools.sh PACKAGE...
#
# The harness calls this with the Debian packages whose programs it did not find on PATH
# (openssh-client: ssh, scp, sftp, ssh-keygen; tmux: the interactive-shell tests; rsync:
# copies over the bridge; npm: the hub image's proxy, installed on the host). Root on apt systems installs them; anything else fails with the
# command to run. Quiet on success.
set -eu

say() { printf 'host-tools: %s\n' "$*" >&2; }
die() { printf 'host-tools: error: %s\n' "$*" >&2; exit 1; }

[ "$#" -gt 0 ] || exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "the tests need these programs' packages: $*. Install them (Debian/Ubuntu: \
'sudo apt-get install $*'), then re-run."
fi

say "installing $* with apt-get (once) ..."
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
apt_log="$(mktemp /tmp/jupyssh-apt.XXXXXX)"
# shellcheck disable=SC2068
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $@; } \
    </dev/null >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "could not install $* with apt-get (full log: $apt_log)"
fi
rm -f "$apt_log"
