"""Finding and stopping every process of something TierLab started (a model server, a private Ray), by PID.

Why not a process group: Ray puts its workers in sessions of their own, vLLM's engine processes are spawned by a
Ray worker, and when their parent dies they are re-parented to PID 1; Ray's agents also retitle themselves, so their
command line no longer names anything. What still ties each of them to what started it is the folder it works in:
the folder is in its command line, or it holds a file open there (its log; a spawned child inherits the log as its
stdout). That folder is private to one server or one Ray, so the processes using it are exactly its processes.
"""

import contextlib
import os

import psutil


def _under(folder: str, path: str) -> bool:
    """``path`` (or a ``--flag=path`` argument) lies in ``folder`` (``/a/80`` is not in ``/a/8000``)."""
    return f"{folder.rstrip(os.sep)}{os.sep}" in f"{path}{os.sep}"


def using(folder: str | os.PathLike) -> list[psutil.Process]:
    """The processes (other than this one) with ``folder`` in their command line or a file open under it."""
    folder = str(folder)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.pid != os.getpid() and any(
                _under(folder, part) for part in [*(proc.info["cmdline"] or ()), *(f.path for f in proc.open_files())]
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def stop(processes: list[psutil.Process], timeout_s: float = 10) -> None:
    """SIGTERM, then SIGKILL whatever is still running after ``timeout_s``."""
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout_s)


def memory_mb(processes: list[psutil.Process]) -> float:
    """Resident memory of ``processes`` together (those still running), in MB."""
    total = 0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return round(total / 2**20, 1)
