"""Preemption: SIGTERM and SIGUSR2 (what SLURM sends before it preempts a job or at its time
limit) ask a run to stop at its next safe point, after writing a checkpoint, instead of
dying mid-update. The handler that was installed before (submitit's, which requeues the
job) then runs, or the signal takes its default course, so a requeued job resumes.
"""

import os
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGUSR2)


class StopSignals:
    def __init__(self):
        self.received: int | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # handlers: main thread only
            for signum in SIGNALS:
                self.previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _note(self, signum, frame) -> None:
        self.received = signum

    def requested(self) -> bool:
        return self.received is not None

    def hand_over(self) -> None:
        """After the checkpoint: what the signal would have done without us."""
        previous = self.previous.get(self.received, signal.SIG_DFL)
        signal.signal(self.received, previous)
        if callable(previous):
            previous(self.received, None)
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), self.received)
