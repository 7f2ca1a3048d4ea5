"""An SFTP server over the Jupyter Contents API: ``sftp``, ``scp`` and editors against a
Jupyter server, byte-exact, memory-bounded, and never a silent loss.

Standalone: ``jupyssh sftp serve --jupyter-url URL``. As a subsystem of another paramiko
server (the bridge)::

    from jupyssh.sftp import SFTPService, install

    service = SFTPService(JupyterClient(url, token=token))
    install(transport, service)  # for each transport, before its handshake
    service.close()              # at shutdown

Modules, each importing only those before it: ``paths`` (SFTP to Contents paths),
``status`` (errors to SFTP status codes), ``attrs`` (models to attributes), ``limits``
(protocol limits, byte budgets), ``service`` (shared client, loop, locks, options),
``upload`` (a file on its way to the server), ``handles`` (paramiko's open files),
``interface`` (``SFTPServerInterface``), ``subsystem`` (the protocol engine, the
``SFTPServer`` subclass with OpenSSH's extensions, and ``install``), ``standalone`` (an
SSH server offering only SFTP), ``cli``.
"""

from jupyssh.sftp._version import __version__
from jupyssh.sftp.interface import JupyterSFTPInterface
from jupyssh.sftp.service import SFTPOptions, SFTPService
from jupyssh.sftp.standalone import SFTPOnlyServer, SFTPPolicy
from jupyssh.sftp.status import SFTPStatusError
from jupyssh.sftp.subsystem import JupyterSFTPServer, install

__all__ = [
    "JupyterSFTPInterface",
    "JupyterSFTPServer",
    "SFTPOnlyServer",
    "SFTPOptions",
    "SFTPPolicy",
    "SFTPService",
    "SFTPStatusError",
    "__version__",
    "install",
]
