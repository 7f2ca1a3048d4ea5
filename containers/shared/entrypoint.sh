#!/bin/sh
# Install the run-time keys, then exec the command (the image's CMD: sshd -D -e in
# openssh, start.sh in jupyter-sshd). Shared by the images that run sshd as `sandbox`;
# each copies it from shared/ (the harness puts containers/shared/ in their context).
#
#   /etc/jupyssh/host-keys/ssh_host_<type>_key[.pub]  mounted host keys (else generated)
#   /etc/jupyssh/authorized_keys                      mounted authorized_keys for `sandbox`
#   $SSH_AUTHORIZED_KEYS                              more key lines for `sandbox`
set -eu

user=sandbox
home=/home/sandbox
src=/etc/jupyssh/host-keys
conf=/etc/ssh/sshd_config.d/host-keys.conf

mkdir -p /etc/ssh/sshd_config.d /run/sshd
: >"$conf"
found=0
for key in "$src"/ssh_host_*_key; do
    [ -f "$key" ] || continue
    name="$(basename "$key")"
    install -m 0600 -o root -g root "$key" "/etc/ssh/$name"
    if [ -f "$key.pub" ]; then
        install -m 0644 -o root -g root "$key.pub" "/etc/ssh/$name.pub"
    fi
    echo "HostKey /etc/ssh/$name" >>"$conf"
    found=1
done
if [ "$found" -eq 0 ]; then
    echo "entrypoint: no host keys in $src; generating ed25519" >&2
    ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
    echo "HostKey /etc/ssh/ssh_host_ed25519_key" >>"$conf"
fi

install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
{
    if [ -f /etc/jupyssh/authorized_keys ]; then cat /etc/jupyssh/authorized_keys; fi
    if [ -n "${SSH_AUTHORIZED_KEYS:-}" ]; then printf '%s\n' "$SSH_AUTHORIZED_KEYS"; fi
} >"$home/.ssh/authorized_keys"
chown "$user:$user" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
if [ ! -s "$home/.ssh/authorized_keys" ]; then
    echo "entrypoint: warning: no authorized keys for $user (mount /etc/jupyssh/authorized_keys or set SSH_AUTHORIZED_KEYS)" >&2
fi
unset SSH_AUTHORIZED_KEYS

exec "$@"
