"""jupyssh.core.jupyter.urls: what users paste, reduced to a base URL and a token."""

from __future__ import annotations

import pytest

from jupyssh.core.errors import ConfigError
from jupyssh.core.jupyter.urls import (
    ServerURL,
    api_url,
    parse_server_url,
    quote_path,
    websocket_url,
)

TOKEN = "6c4b1d0e2f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"


@pytest.mark.parametrize(
    ("url", "base"),
    [
        # what `jupyter server` / `jupyter lab` print
        (f"http://127.0.0.1:8888/?token={TOKEN}", "http://127.0.0.1:8888/"),
        (f"http://127.0.0.1:8888/lab?token={TOKEN}", "http://127.0.0.1:8888/"),
        (f"http://localhost:8888/tree?token={TOKEN}", "http://localhost:8888/"),
        (f"http://localhost:8888/tree/sub/dir?token={TOKEN}", "http://localhost:8888/"),
        (f"http://host:8888/notebooks/a/b.ipynb?token={TOKEN}", "http://host:8888/"),
        (f"http://host:8888/lab/tree/a/b.ipynb?token={TOKEN}", "http://host:8888/"),
        (f"http://host:8888/lab/workspaces/auto-x/tree/a.py?token={TOKEN}", "http://host:8888/"),
        (f"http://host:8888/doc/tree/a.ipynb?token={TOKEN}", "http://host:8888/"),
        (f"http://host:8888/edit/a.py?token={TOKEN}", "http://host:8888/"),
        (f"http://host:8888/terminals/1?token={TOKEN}", "http://host:8888/"),
        ("http://host:8888/api/contents/x", "http://host:8888/"),
        ("http://host:8888", "http://host:8888/"),
        ("http://host:8888/", "http://host:8888/"),
        # a server started with --ServerApp.base_url
        (f"http://host:8888/jupyter/lab?token={TOKEN}", "http://host:8888/jupyter/"),
        (f"http://host:8888/a/b/tree?token={TOKEN}", "http://host:8888/a/b/"),
        ("http://host:8888/jupyter", "http://host:8888/jupyter/"),
        # JupyterHub user servers, named servers, Binder
        (
            f"https://hub.example.org/user/ada/lab?token={TOKEN}",
            "https://hub.example.org/user/ada/",
        ),
        ("https://hub.example.org/user/ada/", "https://hub.example.org/user/ada/"),
        ("https://hub.example.org/user/ada", "https://hub.example.org/user/ada/"),
        (
            "https://hub.example.org/user/ada/lab/tree/work/x.ipynb",
            "https://hub.example.org/user/ada/",
        ),
        ("https://hub.example.org/user/ada/gpu/lab", "https://hub.example.org/user/ada/gpu/"),
        ("https://hub.example.org/user/lab/lab", "https://hub.example.org/user/lab/"),
        (
            "https://hub.example.org/user/ada%40x.org/tree",
            "https://hub.example.org/user/ada%40x.org/",
        ),
        ("https://example.org/jhub/user/ada/lab", "https://example.org/jhub/user/ada/"),
        ("https://hub.example.org/hub/user/ada/lab", "https://hub.example.org/user/ada/"),
        (
            f"https://hub.mybinder.org/user/org-repo-abc123/lab/tree/index.ipynb?token={TOKEN}",
            "https://hub.mybinder.org/user/org-repo-abc123/",
        ),
        # forms of host
        (f"http://[::1]:8888/lab?token={TOKEN}", "http://[::1]:8888/"),
        ("HTTP://Host:8888/lab", "http://Host:8888/"),
        ("https://notebooks.example.org/lab", "https://notebooks.example.org/"),
        # a file under a folder named "user" is not a hub path
        ("http://host:8888/lab/tree/user/x.ipynb", "http://host:8888/"),
        # fragments and other query parameters go
        (f"http://host:8888/lab?reset&token={TOKEN}#anchor", "http://host:8888/"),
        (f"  http://host:8888/lab?token={TOKEN}\n", "http://host:8888/"),
    ],
)
def test_base_url(url: str, base: str) -> None:
    assert parse_server_url(url).base_url == base


@pytest.mark.parametrize(
    ("url", "token"),
    [
        (f"http://h:1/lab?token={TOKEN}", TOKEN),
        (f"http://h:1/?foo=1&token={TOKEN}&bar=2", TOKEN),
        ("http://h:1/?token=Mixed-Case_token.1", "Mixed-Case_token.1"),
        ("http://h:1/?token=a%2Bb", "a+b"),
        ("http://h:1/lab", None),
        ("http://h:1/lab?token=", None),
    ],
)
def test_token_from_url(url: str, token: str | None) -> None:
    assert parse_server_url(url).token == token


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://host/lab", "http:// or https://"),
        ("ws://host:8888/", "http:// or https://"),
        ("file:///tmp/x", "http:// or https://"),
        ("localhost:8888/lab", "http:// or https://"),
        ("127.0.0.1:8888", "http:// or https://"),
        ("host", "http:// or https://"),
        ("", "http:// or https://"),
        ("http:///lab", "no host"),
        ("http://host:notaport/", "not a valid URL"),
        ("http://host:0/", "port 0"),
        ("http://user:pw@host:8888/", "credentials"),
        ("http://user@host:8888/", "credentials"),
        ("https://hub.example.org/hub/login", "JupyterHub"),
        ("https://hub.example.org/hub/user-redirect/lab", "JupyterHub"),
        ("https://hub.example.org/hub/", "JupyterHub"),
    ],
)
def test_refused(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_server_url(url)


def test_errors_never_show_the_token() -> None:
    with pytest.raises(ConfigError) as info:
        parse_server_url(f"ftp://host/lab?token={TOKEN}")
    assert TOKEN not in str(info.value)
    assert "token=<redacted>" in str(info.value)


def test_repr_hides_the_token() -> None:
    server = parse_server_url(f"http://h:1/lab?token={TOKEN}")
    assert TOKEN not in repr(server)
    assert TOKEN not in str(server)
    assert repr(server) == "ServerURL(base_url='http://h:1/', token=<redacted>)"
    assert repr(ServerURL("http://h:1/")) == "ServerURL(base_url='http://h:1/', token=None)"


@pytest.mark.parametrize(
    ("path", "quoted"),
    [
        ("", ""),
        ("/", ""),
        ("a.txt", "a.txt"),
        ("/dir/a b.txt", "dir/a%20b.txt"),
        ("dir//sub/./x/", "dir/sub/x"),
        ("100%/é?#&.ipynb", "100%25/%C3%A9%3F%23%26.ipynb"),
        ("a;b=c/~x", "a%3Bb%3Dc/~x"),
        ("back\\slash", "back%5Cslash"),
    ],
)
def test_quote_path(path: str, quoted: str) -> None:
    assert quote_path(path) == quoted


@pytest.mark.parametrize("path", ["..", "a/../b", "/../etc/passwd", "a\x00b"])
def test_quote_path_refuses(path: str) -> None:
    with pytest.raises(ConfigError):
        quote_path(path)


def test_api_url_and_websocket_url() -> None:
    assert api_url("http://h:1/base/", "api/contents", "a/b") == "http://h:1/base/api/contents/a/b"
    assert api_url("http://h:1/", "api/contents", "") == "http://h:1/api/contents"
    assert (
        websocket_url("http://h:1/user/ada/", "k-1", "s 1")
        == "ws://h:1/user/ada/api/kernels/k-1/channels?session_id=s%201"
    )
    assert websocket_url("https://h/", "k", "s") == "wss://h/api/kernels/k/channels?session_id=s"
