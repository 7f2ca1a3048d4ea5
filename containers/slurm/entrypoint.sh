#!/bin/sh
# Start a node of the test cluster: `entrypoint.sh login` or `entrypoint.sh compute`.
#
# Every node: munged (the image's key), then
#   login:   slurmctld, the run-time ssh keys, and sshd -D -e in the foreground;
#              /etc/jupyssh/host-keys/ssh_host_<type>_key[.pub]  mounted host keys
#              $SSH_AUTHORIZED_KEYS                               key lines for `sandbox`
#   compute: slurmd -D in the foreground (its NodeName is the container's hostname).
# /home is shared by every node; login makes sandbox's home there if it is new.
set -eu

role="${1:-login}"
runuser -u munge -- /usr/sbin/munged

case "$role" in
login)
    /usr/sbin/slurmctld
    conf=/etc/ssh/sshd_config.d/host-keys.conf
    mkdir -p /etc/ssh/sshd_config.d
    : >"$conf"
    for key in /etc/jupyssh/host-keys/ssh_host_*_key; do
        [ -f "$key" ] || continue
        name="$(basename "$key")"
        install -m 0600 "$key" "/etc/ssh/$name"
        [ ! -f "$key.pub" ] || install -m 0644 "$key.pub" "/etc/ssh/$name.pub"
        echo "HostKey /etc/ssh/$name" >>"$conf"
    done
    if [ ! -s "$conf" ]; then
        ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
        echo "HostKey /etc/ssh/ssh_host_ed25519_key" >>"$conf"
    fi
    install -d -m 0700 -o sandbox -g sandbox /home/sandbox /home/sandbox/.ssh
    printf '%s\n' "${SSH_AUTHORIZED_KEYS:-}" >/home/sandbox/.ssh/authorized_keys
    chown sandbox:sandbox /home/sandbox/.ssh/authorized_keys
    chmod 0600 /home/sandbox/.ssh/authorized_keys
    unset SSH_AUTHORIZED_KEYS
    exec /usr/sbin/sshd -D -e
    ;;
compute)
    exec /usr/sbin/slurmd -D
    ;;
*)
    echo "entrypoint: unknown role $role (login or compute)" >&2
    exit 2
    ;;
esac
