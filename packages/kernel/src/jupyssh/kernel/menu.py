"""The Ctrl+D menu of ``jupyssh kernel launch`` on a terminal (as sshpyk's ``sshpyk-kernel``).

On a terminal in canonical mode, Ctrl+D at the start of a line makes one ``read`` return
nothing; :class:`TerminalMenu` turns that into a prompt and the next line into an action
for :func:`jupyssh.kernel.standalone.run_standalone`'s queue. Ctrl+C (SIGINT, interrupt) and Ctrl+\\
(SIGQUIT, leave) stay signals. Only a terminal gets a menu: at the end of a pipe or file,
end-of-input is permanent, and a reader would wake forever.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TextIO

__all__ = ["CHOICES", "PROMPT", "TerminalMenu"]

#: The first letter typed at the prompt, and the action it puts on the queue (None: go on).
CHOICES: dict[str, str | None] = {
    "i": "interrupt",
    "r": "restart",
    "s": "shutdown",
    "l": "leave",
    "c": None,
}
PROMPT = "\n[i]nterrupt, [r]estart, [s]hut down, [l]eave it running, [c]ontinue? "


class TerminalMenu:
    """Reads ``fd`` (a terminal) on the event loop; installed and removed by ``launch``."""

    def __init__(self, fd: int, act: Callable[[str], None], *, out: TextIO = sys.stderr) -> None:
        self.fd = fd
        self.act = act
        self.out = out
        self.asking = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def on_stdin(cls, act: Callable[[str], None]) -> TerminalMenu | None:
        """A menu on standard input when it is a terminal, else None."""
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):  # no stdin, or a closed one
            return None
        return cls(fd, act) if os.isatty(fd) else None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.fd, self.on_input)

    def remove(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None

    def on_input(self) -> None:
        """Called by the loop when the terminal has input (or an end-of-input)."""
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # the terminal went away: no more menu, the signals remain
            self.remove()
            return
        if not data:
            self.asking = True
            self._say(PROMPT)
        elif self.asking:
            self.choose(data.decode(errors="replace"))
        # Anything typed outside the menu is not for us: the kernel has no stdin here.

    def choose(self, line: str) -> None:
        key = line.strip().lower()[:1]
        if key not in CHOICES:
            self._say(f"not a choice: {line.strip()!r}{PROMPT}")
            return
        self.asking = False
        action = CHOICES[key]
        if action is None:
            self._say("continuing\n")
        else:
            self.act(action)

    def _say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
