"""A subprocess's output, line by line, read by a thread so that the process never blocks on a full
pipe, and waited on with a deadline (tests of the CLI and the demo)."""

from __future__ import annotations

import queue
import subprocess
import threading

__all__ = ["Lines"]


class Lines:
    """The stdout (with stderr) of `proc`, a text-mode Popen with stdout=PIPE."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, text: str, timeout_s: float = 60) -> str:
        """Everything read so far once a line holding `text` came; fails if the process ends first
        or no such line comes within timeout_s of the last one."""
        while not self.seen or text not in self.seen[-1]:
            try:
                line = self._queue.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout_s} s:\n" + "".join(self.seen)) from None
            if line is None:
                raise AssertionError(f"the process ended before {text!r}:\n" + "".join(self.seen))
            self.seen.append(line)
        return "".join(self.seen)

    def close(self, timeout_s: float = 30) -> int:
        """Wait for the process to end (it was told to), then for the reader; returns its exit code."""
        code = self.proc.wait(timeout=timeout_s)
        self._thread.join(timeout_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code
