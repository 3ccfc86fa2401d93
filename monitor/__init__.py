"""The exact-KL monitor for training code this suite did not write: it measures each policy
update of a diagonal-Gaussian policy exactly (kl_mean, kl_max, the behavioural KL, ...) and
writes the suite's run record, which the report reads like its own runs'.

- `ForeignRun`: the record of one run of someone else's code (monitor.record);
- `measured_update`: a context manager around one update of a plain PyTorch loop
  (monitor.loop);
- `monitor.sb3.ExactKLCallback`: a Stable-Baselines3 callback (needs stable-baselines3).
"""

from monitor.loop import measured_update
from monitor.measure import Gaussian, behaviour, update_size
from monitor.record import ForeignRun

__all__ = ["ForeignRun", "Gaussian", "behaviour", "measured_update", "update_size"]
