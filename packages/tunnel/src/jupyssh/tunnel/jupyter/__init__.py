"""``tunnel jupyter``: a Jupyter server on a remote host, in the local browser.

* :mod:`.remote`: the scripts that run on the host (find, launch, stop a server);
* :mod:`.tunnel`: the control master, the forward, the probe (``open_jupyter``,
  ``stop_jupyter``);
* :mod:`.state`: the record of an open tunnel, what ``--stop`` undoes;
* :mod:`.browser`: the private redirect page the browser opens instead of the token.
"""

from jupyssh.tunnel.jupyter.tunnel import (
    OpenedJupyter,
    StoppedJupyter,
    open_jupyter,
    stop_jupyter,
)

__all__ = ["OpenedJupyter", "StoppedJupyter", "open_jupyter", "stop_jupyter"]
