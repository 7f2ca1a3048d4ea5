"""jupyssh-kernel: Jupyter kernels on ssh hosts through a jupyter_client provisioner.

``SSHProvisioner`` is what jupyter_client loads (entry point ``jupyssh`` in
``jupyter_client.kernel_provisioners``); :mod:`jupyssh.kernel.specs` writes the
kernelspecs that select it; ``jupyssh kernel …`` is the command line.
"""

from jupyssh.kernel._version import __version__
from jupyssh.kernel.errors import (
    KernelLaunchError,
    KernelSpecError,
    RemoteKernelSpecMissingError,
    RemotePythonMissingError,
)
from jupyssh.kernel.provisioner import SSHProvisioner
from jupyssh.kernel.specs import SpecOptions, install_spec, kernel_json, load_options

__all__ = [
    "KernelLaunchError",
    "KernelSpecError",
    "RemoteKernelSpecMissingError",
    "RemotePythonMissingError",
    "SSHProvisioner",
    "SpecOptions",
    "__version__",
    "install_spec",
    "kernel_json",
    "load_options",
]
