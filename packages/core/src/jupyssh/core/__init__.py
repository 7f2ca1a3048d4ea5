"""jupyssh's shared core: the OpenSSH client driver, typed errors, paths and the CLI.

The Jupyter server client (``jupyssh.core.jupyter``) and the SSH server base
(``jupyssh.core.server``) are extras: ``pip install 'jupyssh-core[jupyter,server]'``.
"""

from jupyssh.core._version import __version__

__all__ = ["__version__"]
