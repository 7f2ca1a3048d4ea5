"""Security finding 18: symbolic links already in the Jupyter root that lead outside it,
made for real in the container's root (the host folder it mounts) and pointing at the
container's own ``/etc``.

jupyssh cannot make links (``symlink`` is refused). The Contents API builds its models
from ``lstat`` and gives no sign that a path is, or goes through, a link, so jupyssh cannot
refuse such paths; jupyter_server's ``/files/`` handler (tornado >= 6.5.9) does refuse to
serve a file whose real path leaves the root, and jupyssh says why. Listing, writing and
removing through such a link follow it, as JupyterLab's file browser does: that is the
documented limit (docs/packages/sftp.md, "Symbolic links"), pinned here so that the page
stays true."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from .conftest import SFTPEndpoint


@pytest.fixture(scope="module")
def links(sftp_root: Path) -> Path:
    (sftp_root / "link_file").symlink_to("/etc/os-release")
    (sftp_root / "link_etc").symlink_to("/etc")
    return sftp_root


def test_finding_18_reads_through_links_out_of_the_root_are_refused(
    sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient, links: Path
):
    for path in ("link_file", "link_etc/os-release"):
        refused = pytest.raises(PermissionError, match="symbolic link leading outside its root")
        with client.open(path) as handle, refused:  # the Contents API shows a file
            handle.read(100)


def test_finding_18_listing_follows_a_link_out_of_the_root_as_documented(
    sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient, links: Path
):
    assert "os-release" in client.listdir("link_etc")


def test_links_cannot_be_made(sftp_endpoint: SFTPEndpoint, client: paramiko.SFTPClient):
    with pytest.raises(OSError, match="not supported"):
        client.symlink("/etc", "made_here")
    assert not (sftp_endpoint.root / "made_here").is_symlink()
