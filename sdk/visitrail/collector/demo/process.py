"""`visitrail serve` in a subprocess: the demo's collector, and the one the end-to-end tests and
the benchmarks run against."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import typing

__all__ = ["CollectorProcess", "LISTENING"]

LISTENING = re.compile(r"listening on (http://\S+)")
CLI = "import sys; from visitrail.collector.cli import main; sys.exit(main())"


class CollectorProcess:
    """start() returns the collector's URL once it accepts connections. allow_origin: one origin or
    a list of them; assets: the folder served at /analytics/ (default: the collector's own);
    command: the `visitrail` executable to run (default: this interpreter's visitrail.collector)."""

    def __init__(
        self,
        db: str,
        admin_token: str,
        allow_origin: str | typing.Sequence[str],
        port: int = 0,
        write_key: str = "demo-key",
        echo: bool = False,
        log_level: str = "warning",
        test_hooks: bool = False,
        assets: str | None = None,
        extra_args: typing.Sequence[str] = (),
        command: typing.Sequence[str] | None = None,
        cwd: str | None = None,
    ) -> None:
        origins = [allow_origin] if isinstance(allow_origin, str) else list(allow_origin)
        self.args = [
            "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db,
            "--write-key", write_key, "--log-level", log_level,
        ]  # fmt: skip
        # The token goes in the environment, not the arguments: every process listing (ps) shows
        # arguments, and `serve` warns of a token given there.
        self.env = {key: value for key, value in os.environ.items() if key != "VISITRAIL_ADMIN_TOKEN_FILE"}
        self.env["VISITRAIL_ADMIN_TOKEN"] = admin_token
        if assets is not None:
            self.args += ["--assets", assets]
        for origin in origins:
            self.args += ["--allow-origin", origin]
        if test_hooks:
            self.args.append("--test-hooks")
        self.args += list(extra_args)
        self.command = list(command) if command else [sys.executable, "-c", CLI]
        self.cwd = cwd
        self.echo = echo
        self.output: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.url: str | None = None
        self._drain = threading.Thread()

    def start(self, timeout_s: float = 30) -> str:
        proc = self.proc = subprocess.Popen(
            [*self.command, *self.args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:  # keeps reading, so that the collector never blocks on a full pipe
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line)
                if self.echo:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                lines.put(line)
            lines.put(None)

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        while True:
            try:
                line = lines.get(timeout=timeout_s)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("the collector did not start:\n" + "".join(self.output))
            found = LISTENING.search(line)
            if found:
                self.url = found.group(1)
                return self.url

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # The drain thread ends at the pipe's end; then the pipe is closed (not left to the GC).
        self._drain.join(10)
        if proc.stdout is not None:
            proc.stdout.close()
