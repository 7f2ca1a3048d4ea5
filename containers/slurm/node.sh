#!/bin/sh
# Start a node of the test cluster: `node.sh login` or `node.sh compute`.
#
# Every node runs munged (the image's key), then
#   login:   slurmctld, and sshd -D -e in the foreground through the shared entrypoint
#            (host keys and `sandbox`'s authorized keys, see shared/entrypoint.sh);
#   compute: slurmd -D in the foreground (its NodeName is the container's hostname).
# /home is shared by every node; login makes sandbox's home there if it is new.
set -eu

role="${1:-login}"
runuser -u munge -- /usr/sbin/munged

case "$role" in
login)
    /usr/sbin/slurmctld
    install -d -m 0755 -o sandbox -g sandbox /home/sandbox
    exec /usr/local/bin/entrypoint.sh /usr/sbin/sshd -D -e
    ;;
compute)
    exec /usr/sbin/slurmd -D
    ;;
*)
    echo "node.sh: unknown role $role (login or compute)" >&2
    exit 2
    ;;
esac
