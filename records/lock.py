"""Who trains a run now: a lock in its record directory that holds on shared storage (NFS)
as well as on a local disk. flufl.lock takes it with link(2), which NFS makes atomic where
O_EXCL is not, and gives it a lifetime that its holder's heartbeat extends. On top of it this
module keeps the suite's rules: a claim never waits (a run another process trains is
skipped), a stale lock is taken over and said so, only its owner releases it, and an owner
that finds its lock gone or taken stops writing.
"""

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

from flufl.lock import Lock, LockState, NotLockedError, TimeOutError

LIFETIME_S = 900  # a lock whose holder has not written for this long is stale, on any host
CLOCK_SLOP = timedelta(seconds=10)  # hosts' clocks differ by this much at most
FLUFL_LOG = logging.getLogger("flufl.lock")


def not_a_timeout(record: logging.LogRecord) -> bool:
    """Drops flufl.lock's ERROR "timed out", logged before each TimeOutError: a claim never
    waits, so for it a timeout is the ordinary answer "held elsewhere", which RunLocked
    carries. Its other errors still show."""
    return record.getMessage() != "timed out"


class RunLocked(RuntimeError):
    """Another live process is training this run."""


class LockLost(RunLocked):
    """The lock this process held was taken over or removed while it trained."""


class RunLock:
    def __init__(self, path: Path, lifetime_s: float = LIFETIME_S):
        self.path = Path(path)
        self.lock = Lock(str(self.path), lifetime=timedelta(seconds=lifetime_s))

    def holder(self) -> str:
        """host:pid of the process that holds the lock ("unknown" when its file is damaged)."""
        try:
            host, pid, _ = self.lock.details
        except NotLockedError:
            return "unknown"
        return f"{host.split('.')[0]}:{pid}"

    def is_stale(self) -> bool:
        """Held, but by nobody alive: a process of this host that has exited, one of this very
        process that another attempt left behind, or any holder past its lifetime."""
        state = self.lock.state
        if state in (LockState.stale, LockState.ours_expired, LockState.theirs_expired):
            return True
        if state is LockState.ours:
            return not self.lock.is_locked
        try:
            return self.lock.expiration + CLOCK_SLOP < datetime.now()
        except FileNotFoundError:
            return False

    def held_elsewhere(self) -> bool:
        """Another live process holds it."""
        return os.path.lexists(self.path) and not self.is_stale() and not self.owned()

    def owned(self) -> bool:
        return os.path.lexists(self.path) and self.lock.is_locked

    def claim(self) -> str | None:
        """Take the lock without waiting; returns a note when a stale lock was taken over.
        Raises RunLocked while another live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        note = None
        if os.path.lexists(self.path) and self.is_stale():
            note = f"took over stale lock of {self.holder()}"
            self.break_stale()
        FLUFL_LOG.addFilter(not_a_timeout)
        try:
            self.lock.lock(timeout=0)
        except TimeOutError:
            raise RunLocked(
                f"{self.path.parent.name} is being trained by {self.holder()}"
            ) from None
        finally:
            FLUFL_LOG.removeFilter(not_a_timeout)
        return note

    def break_stale(self) -> None:
        """Remove a stale lock and its holder's claim file (flufl.lock's own lock file layout:
        the lock file names the claim file it is a hard link of)."""
        try:
            claim_file = self.path.read_text().strip()
        except FileNotFoundError:
            return
        self.path.unlink(missing_ok=True)
        if claim_file.startswith(str(self.path)):
            Path(claim_file).unlink(missing_ok=True)

    def heartbeat(self) -> None:
        """Extend the lock's lifetime; raises LockLost when it is no longer this process's."""
        if not self.owned():
            raise LockLost(
                f"{self.path.parent.name}: its lock was taken by {self.holder()} while this "
                "attempt trained; this attempt stops and leaves the record to it"
            )

    def release(self) -> None:
        """Give the lock up if it is still this process's; another holder's is left alone."""
        self.lock.unlock(unconditionally=True)
