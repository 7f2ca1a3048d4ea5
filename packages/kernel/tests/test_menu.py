"""The Ctrl+D menu, on a real pseudo-terminal: the line discipline turns ^D into an
end-of-input read, exactly as a user's terminal does."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import tty
from collections.abc import Callable, Iterator

import pytest

from jupyssh.kernel.menu import PROMPT, TerminalMenu


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """(controller, terminal) file descriptors of a pty in canonical mode."""
    controller, follower = pty.openpty()
    mode = tty.tcgetattr(follower)
    mode[tty.LFLAG] |= tty.ICANON
    tty.tcsetattr(follower, tty.TCSANOW, mode)
    yield controller, follower
    os.close(controller)
    os.close(follower)


async def _typed(
    menu: TerminalMenu,
    controller: int,
    keys: bytes,
    actions: list[str],
    until: Callable[[], bool] | None = None,
) -> None:
    """Type ``keys``; return once an action is queued or the menu asks (or ``until``)."""
    before = len(actions)
    os.write(controller, keys)
    for _ in range(100):  # bounded: 2 s
        await asyncio.sleep(0.02)
        if len(actions) > before or menu.asking or (until is not None and until()):
            return


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "expected"),
    [(b"i\n", "interrupt"), (b"r\n", "restart"), (b"s\n", "shutdown"), (b"leave\n", "leave")],
)
async def test_ctrl_d_then_a_choice_queues_its_action(
    terminal: tuple[int, int], answer: bytes, expected: str
) -> None:
    controller, follower = terminal
    actions: list[str] = []
    out = io.StringIO()
    menu = TerminalMenu(follower, actions.append, out=out)
    menu.install(asyncio.get_running_loop())
    try:
        await _typed(menu, controller, b"\x04", actions)
        assert menu.asking
        assert out.getvalue().endswith(PROMPT)
        await _typed(menu, controller, answer, actions)
    finally:
        menu.remove()
    assert actions == [expected]
    assert not menu.asking


@pytest.mark.asyncio
async def test_continue_and_a_wrong_answer_do_nothing(terminal: tuple[int, int]) -> None:
    controller, follower = terminal
    actions: list[str] = []
    out = io.StringIO()
    menu = TerminalMenu(follower, actions.append, out=out)
    menu.install(asyncio.get_running_loop())
    try:
        await _typed(menu, controller, b"\x04", actions)
        await _typed(menu, controller, b"x\n", actions)
        assert "not a choice: 'x'" in out.getvalue()
        assert menu.asking  # asked again
        await _typed(
            menu, controller, b"c\n", actions, until=lambda: "continuing" in out.getvalue()
        )
        assert not menu.asking
        os.write(controller, b"typed outside the menu\n")
        await asyncio.sleep(0.2)  # what must not happen gets a moment to happen
    finally:
        menu.remove()
    assert actions == []
    assert "continuing" in out.getvalue()


def test_no_menu_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    try:
        monkeypatch.setattr("sys.stdin", os.fdopen(read, closefd=False))
        assert TerminalMenu.on_stdin(lambda _action: None) is None
    finally:
        os.close(read)
        os.close(write)
