"""`make ui`: `dagster dev` (webserver, daemon, code server and the runs it launches) that stops as a whole.

    .venv/bin/python scripts/ui.py [dagster dev options, e.g. -h 127.0.0.1 -p 3000]

`dagster dev` stops cleanly on a SIGINT that reaches its whole process tree, as Ctrl-C in a terminal does.
Other ways of stopping it leave processes behind: GNU make forwards SIGTERM to its child only and SIGINT
not at all, and then the code server waits for the runs in flight to finish (it never signals them), so
the code server and the run workers outlive `dagster dev` for as long as those runs take.

So `dagster dev` runs here in a session of its own, and every SIGINT, SIGTERM or SIGHUP this process gets
becomes a SIGINT to that whole session's process group: Dagster's own shutdown (runs in flight are marked
as interrupted). A SIGINT sent to make alone is seen too: make's handler resets the signal to its default
before it waits for its children, which shows in /proc/<make>/status. What is still alive after GRACE_S
gets SIGTERM, and after KILL_AFTER_S more SIGKILL; a second Ctrl-C skips the wait. Every process that had
to be terminated or killed is named on stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 10.0  # idle, the tree is gone in ~3 s; interrupting runs in flight takes a few seconds more
KILL_AFTER_S = 5.0
POLL_S = 0.1
# a Ctrl-C reaches this process and make at once (make's, seen through /proc, may come second): only a
# signal this much later is a second one
REPEAT_AFTER_S = 1.0
FATAL = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _say(text: str) -> None:
    print(f"ui: {text}", file=sys.stderr, flush=True)


def _members(pgid: int) -> dict[int, str]:
    """{pid: command line} of the live (not zombie) processes of a process group."""
    found: dict[int, str] = {}
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: whether the group has anyone left at all
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return {}
        return {pgid: "(process group)"}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # fields after "(comm)": state, ppid, pgrp, ...; comm may itself hold spaces and parentheses
            state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
            if int(pgrp) != pgid or state == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue  # gone meanwhile
        found[int(entry.name)] = cmd[:160]
    return found


def _signal_each(pgid: int, members: dict[int, str], sig: signal.Signals) -> None:
    if not Path("/proc").is_dir():  # the members are not known one by one: the group as a whole
        members, send = {pgid: "(process group)"}, os.killpg
    else:
        send = os.kill
    for pid, cmd in sorted(members.items()):
        try:
            send(pid, sig)
            _say(f"  {sig.name} to {pid}: {cmd}")
        except ProcessLookupError:
            pass


class _Asked:
    """The stop signals received, with when."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.times: list[float] = []

    def __call__(self, signum: int, _frame=None) -> None:
        self.first = self.first or signum
        self.times.append(time.monotonic())

    def again_since(self, started: float) -> bool:
        return any(t > started + REPEAT_AFTER_S for t in self.times)


def _caught(pid: int) -> int | None:
    """The mask of signals `pid` has handlers for (Linux /proc), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


class _MakeParent:
    """GNU make forwards no SIGINT to its children, but its handler for a fatal signal first resets that
    signal to the default and then waits for them: a handler that disappears is the signal make got."""

    def __init__(self) -> None:
        ppid = os.getppid()
        try:
            is_make = Path(f"/proc/{ppid}/comm").read_text().strip() in ("make", "gmake")
        except OSError:
            is_make = False
        self.pid = ppid if is_make else None
        self.mask = _caught(ppid) if is_make else None

    def signal(self) -> int | None:
        if self.pid is None or self.mask is None:
            return None
        now = _caught(self.pid)
        if now is None:
            return None
        for sig in FATAL:
            bit = 1 << (sig - 1)
            if self.mask & bit and not now & bit:
                return sig
        return None


def _die_with_parent() -> None:
    # Linux: if this wrapper is killed outright (SIGKILL), `dagster dev` still gets its Ctrl-C
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGINT))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    dagster = Path(sys.executable).parent / "dagster"
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    child = subprocess.Popen([str(dagster), "dev", *argv], start_new_session=True,
                             preexec_fn=preexec)  # noqa: PLW1509 - this process runs one thread
    pgid = child.pid  # a new session: its leader's pid is the group id of the whole tree
    asked = _Asked()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, asked)
    make = _MakeParent()

    while asked.first is None and child.poll() is None:
        time.sleep(POLL_S)
        got = make.signal()
        if got is not None and asked.first is None:
            _say(f"make got {signal.Signals(got).name}")
            asked(got)
    if asked.first is None:  # dagster dev exited by itself: what it left behind goes too
        if _members(pgid):
            _say(f"dagster dev exited ({child.returncode}); stopping what it left running")
            _stop(pgid, asked, time.monotonic())
        return child.returncode

    _say(f"{signal.Signals(asked.first).name}: stopping dagster dev and everything it started")
    _stop(pgid, asked, time.monotonic())
    try:
        child.wait(timeout=KILL_AFTER_S)
    except subprocess.TimeoutExpired:
        pass
    return 128 + asked.first


def _stop(pgid: int, asked: _Asked, started: float) -> None:
    try:
        os.killpg(pgid, signal.SIGINT)  # what Ctrl-C in a terminal does to the tree
    except ProcessLookupError:
        return
    since = started
    for sig, after in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, GRACE_S + KILL_AFTER_S)):
        while time.monotonic() - started < after and not asked.again_since(since):
            if not _members(pgid):
                _say(f"stopped in {time.monotonic() - started:.1f} s")
                return
            time.sleep(POLL_S)
        left = _members(pgid)
        if not left:
            break
        why = "a second signal" if asked.again_since(since) else f"{time.monotonic() - started:.0f} s"
        _say(f"still running after {why}; sending {sig.name} to {len(left)} process(es):")
        _signal_each(pgid, left, sig)
        since = time.monotonic()
    deadline = time.monotonic() + KILL_AFTER_S
    while _members(pgid) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    left = _members(pgid)
    _say(f"stopped in {time.monotonic() - started:.1f} s" if not left else f"still alive: {sorted(left)}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
