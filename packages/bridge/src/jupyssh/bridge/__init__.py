"""jupyssh-bridge: an SSH server whose shells and commands run inside a Jupyter kernel.

Each SSH connection gets its own kernel on the Jupyter server (deleted when the connection
ends); an agent installed into that kernel runs each SSH channel as a process — on a PTY
when the client asked for one, on pipes otherwise — and talks to the bridge over one comm
with binary buffers, with credit-based flow control in both directions.
"""

from jupyssh.bridge._version import __version__

__all__ = ["__version__"]
