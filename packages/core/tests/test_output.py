"""StatusLine: a wait's state rewritten in place on a terminal, a line per change elsewhere."""

from __future__ import annotations

import io

from jupyssh.core.output import StatusLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_change_is_one_line_and_details_are_not_changes() -> None:
    stream = io.StringIO()
    with StatusLine("kernel: ", stream) as line:
        line.show("job 7 pending (Priority)", "0:01 waited")
        line.show("job 7 pending (Priority)", "0:02 waited")
        line.show("job 7 pending (Resources)", "0:03 waited")
    assert (
        stream.getvalue() == "kernel: job 7 pending (Priority)\nkernel: job 7 pending (Resources)\n"
    )


def test_on_a_terminal_the_line_is_rewritten_then_ended() -> None:
    stream = Terminal()
    with StatusLine("kernel: ", stream) as line:
        line.show("job 7 pending (Priority)", "0:01 waited")
        line.show("job 7 pending (Priority)", "0:02 waited")
    assert stream.getvalue() == (
        "\r\x1b[Kkernel: job 7 pending (Priority), 0:01 waited"
        "\r\x1b[Kkernel: job 7 pending (Priority), 0:02 waited\n"
    )


def test_a_line_never_shown_leaves_nothing() -> None:
    stream = Terminal()
    with StatusLine("kernel: ", stream):
        pass
    assert stream.getvalue() == ""
