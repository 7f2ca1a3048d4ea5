"""An SFTP server over the Jupyter Contents API: ``sftp``, ``scp`` and editors against a
Jupyter server, byte-exact, memory-bounded, and never a silent loss.

Standalone: ``jupyssh sftp serve --jupyter-url URL``. As a subsystem of another paramiko
server (the bridge)::

    from jupyssh.sftp import SFTPService

    service = SFTPService(JupyterClient(url, token=token))
    service.install(transport)   # for each transport, before its handshake
    service.close()              # at shutdown

Modules: ``paths`` (SFTP to Contents paths), ``status`` (errors to SFTP status codes),
``attrs`` (models to attributes), ``service`` (shared client, loop, locks, mounting),
``interface`` (``SFTPServerInterface``), ``handles`` (reads and uploads), ``server``
(the ``SFTPServer`` subclass with OpenSSH's extensions), ``standalone`` (an SSH server
offering only SFTP), ``cli``.
"""

from jupyssh.sftp._version import __version__
from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.server import JupyterSFTPServer
from jupyssh.sftp.service import SFTPOptions, SFTPService
from jupyssh.sftp.standalone import SFTPOnlyServer, SFTPPolicy
from jupyssh.sftp.status import SFTPStatusError

__all__ = [
    "JupyterSFTPInterface",
    "JupyterSFTPServer",
    "SFTPOnlyServer",
    "SFTPOptions",
    "SFTPPolicy",
    "SFTPService",
    "SFTPStatusError",
    "__version__",
]
