"""Types of the compiled reader (``_reader.pyx``); the API of ``_reader_py``."""

IMPL: str

class Reader:
    fd: int
    max_chunk: int
    window: float
    eager_below: int
    eof: bool
    def __init__(
        self, fd: int, max_chunk: int = 65536, window: float = 0.002, eager_below: int = 0
    ) -> None: ...
    def read(self, timeout: float | None = None) -> bytes | None: ...
