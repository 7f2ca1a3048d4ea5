# Login shells: /etc/profile resets PATH, so put the image's Python venv first again.
case ":${PATH}:" in
    *:/opt/venv/bin:*) ;;
    *) PATH="/opt/venv/bin:${PATH}"; export PATH ;;
esac
