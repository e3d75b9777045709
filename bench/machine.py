"""The machine the figures come from: its CPUs, how busy it is, and the CPU time a process used
(Linux /proc)."""

import os
from pathlib import Path


def cpus():
    """(CPUs, of which this process may use)."""
    count = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else count
    return count, usable


def load_average():
    """The 1-minute load average."""
    return os.getloadavg()[0]


def _stat(pid):
    # Fields after the command name, which may itself hold spaces and parentheses.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """User + system CPU time of a process, or None when it cannot be read."""
    try:
        fields = _stat(pid)
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parent_of(pid):
    """The parent's pid (as text), or None when the process cannot be read."""
    try:
        return _stat(pid)[1]
    except OSError:
        return None


def command_of(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def children_cpu(parent):
    """CPU seconds of each child of `parent`, by pid; children that end meanwhile are left out."""
    used = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(entry.name) == str(parent):
            cpu = cpu_seconds(entry.name)
            if cpu is not None:
                used[entry.name] = cpu
    return used
