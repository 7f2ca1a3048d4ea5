# Login shells: /etc/profile resets PATH, so put the image's Python venv first again, and
# /usr/sbin last (jupyter-sshd-proxy looks for `sshd` on PATH).
case ":${PATH}:" in
    *:/opt/venv/bin:*) ;;
    *) PATH="/opt/venv/bin:${PATH}"; export PATH ;;
esac
case ":${PATH}:" in
    *:/usr/sbin:*) ;;
    *) PATH="${PATH}:/usr/sbin"; export PATH ;;
esac
