"""A real SLURM (Debian's slurm-wlm) on this machine, for the cluster tests: munged, a MariaDB
and slurmdbd for accounting (sacct: how submitit learns a job's state), slurmctld and slurmd,
started directly (no systemd), configured and kept in a folder of their own, and stopped by
their pids. What was already running (a munged) is used and left running.

Two partitions share the node: `low` (the default; its jobs may be preempted and are
requeued) and `high`, whose jobs preempt `low`'s. A preempted job is sent its own
`--signal` (submitit's USR2) at once, so it checkpoints and submitit requeues it.

    python tests/single_node_slurm.py start DIR   # prints the SLURM_CONF to export
    python tests/single_node_slurm.py stop DIR
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurmdbd", "slurm-client", "munge", "mariadb-server"]
DAEMONS = ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "mariadb-install-db")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
GRACE_S = 60  # a preempted job's time to checkpoint before SLURM kills it

CONF = """\
ClusterName=trust-region-test
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
# A requeued job may start again once its credential has expired: 10 s, not the default 120.
AuthInfo=cred_expire=10
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
# verbose: the controller's log says which job preempted which
SlurmctldDebug=verbose
SlurmctldPort={port}
SlurmdPort={slurmd_port}
# No cgroups: processes are tracked by their parents, tasks are not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
# Schedule every 2 s and backfill every 5 (not 60 and 30): a requeued job starts soon after
# its credential expires.
SchedulerParameters=sched_interval=2,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost={host}
AccountingStoragePort={dbd_port}
JobAcctGatherType=jobacct_gather/none
{node}
PartitionName=low Nodes={nodename} Default=YES PriorityTier=1 PreemptMode=REQUEUE GraceTime={grace} MaxTime=INFINITE State=UP
PartitionName=high Nodes={nodename} PriorityTier=10 PreemptMode=OFF MaxTime=INFINITE State=UP
"""

DBD_CONF = """\
DbdHost={host}
DbdPort={dbd_port}
SlurmUser=root
AuthType=auth/munge
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile={dir}/slurmdbd.pid
LogFile={dir}/slurmdbd.log
"""


def install() -> None:
    """Debian's slurm-wlm packages, when they are missing (needs root and apt)."""
    if all(shutil.which(name) for name in DAEMONS):
        return
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env)


def node_line() -> str:
    """The node as slurmd sees this machine (its CPUs and memory), minus the uptime."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0]


def munge_running() -> bool:
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0


class SingleNodeSlurm:
    def __init__(self, directory: Path, port: int = 16817):
        """Ports port .. port + 3: slurmctld, slurmd, slurmdbd, MariaDB (on 127.0.0.1)."""
        self.dir = Path(directory)
        self.conf = self.dir / "slurm.conf"
        self.port = port
        self.munge_mark = self.dir / "started-munged"  # present when munged is ours to stop

    @property
    def env(self) -> dict[str, str]:
        """The environment a SLURM client (sbatch, squeue, submitit) needs to find it."""
        return os.environ | {"SLURM_CONF": str(self.conf)}

    def start(self) -> "SingleNodeSlurm":
        """Start every daemon; if one does not come up, stop those started and raise."""
        try:
            return self.start_daemons()
        except BaseException:
            self.stop()
            raise

    def start_daemons(self) -> "SingleNodeSlurm":
        install()
        (self.dir / "state").mkdir(parents=True, exist_ok=True)
        (self.dir / "spool").mkdir(exist_ok=True)
        node = node_line()
        nodename = node.split()[0].split("=")[1]
        ports = dict(port=self.port, slurmd_port=self.port + 1, dbd_port=self.port + 2,
                     db_port=self.port + 3)  # fmt: skip
        self.conf.write_text(CONF.format(host=nodename, dir=self.dir, node=node,
                                         nodename=nodename, grace=GRACE_S, **ports))  # fmt: skip
        dbd_conf = self.dir / "slurmdbd.conf"  # beside slurm.conf, readable by SlurmUser only
        dbd_conf.write_text(DBD_CONF.format(host=nodename, dir=self.dir, **ports))
        dbd_conf.chmod(0o600)
        if not munge_running():
            MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
            subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
            self.munge_mark.touch()
        self.start_database(ports["db_port"])
        subprocess.run(["slurmdbd"], check=True, env=self.env)
        self.wait_for(lambda: self.answers("sacctmgr", "-n", "list", "cluster"),
                      "slurmdbd did not answer", "slurmdbd.log")  # fmt: skip
        subprocess.run(["slurmctld", "-f", str(self.conf), "-c"], check=True)
        subprocess.run(["slurmd", "-f", str(self.conf)], check=True)
        self.wait_idle()
        return self

    def start_database(self, port: int) -> None:
        """A MariaDB of its own (data, socket and pid file in this folder) with slurmdbd's user."""
        data, socket_path = self.dir / "db", self.dir / "db.sock"
        subprocess.run(["mariadb-install-db", f"--datadir={data}", "--user=root",
                        "--skip-test-db", "--auth-root-authentication-method=socket"],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={socket_path}",
             f"--pid-file={self.dir / 'mariadbd.pid'}", "--bind-address=127.0.0.1",
             f"--port={port}", "--user=root", f"--log-error={self.dir / 'mariadbd.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.wait_for(lambda: socket_path.exists() and (self.dir / "mariadbd.pid").exists(),
                      "MariaDB did not start", "mariadbd.log")  # fmt: skip
        sql = ("CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; "
               "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")  # fmt: skip
        subprocess.run(["mariadb", "--no-defaults", f"--socket={socket_path}", "-e", sql],
                       check=True)  # fmt: skip

    def wait_idle(self) -> None:
        self.wait_for(
            lambda: self.client("sinfo", "-h", "-o", "%t", check=False).strip().startswith("idle"),
            "the SLURM node did not come up idle", "slurmd.log",
        )  # fmt: skip

    def wait_for(self, ready, what: str, log: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what}: see {self.dir / log}")

    def client(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(args, capture_output=True, text=True, env=self.env)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def answers(self, *args: str) -> bool:
        return subprocess.run(args, capture_output=True, env=self.env).returncode == 0

    def log(self) -> str:
        return (self.dir / "slurmctld.log").read_text()

    def stop(self) -> None:
        """Stop the daemons this started, by their pid files; a munged found running stays."""
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd"):
            stop_pid_file(self.dir / f"{name}.pid")
        if self.munge_mark.exists():
            stop_pid_file(Path("/run/munge/munged.pid"))
            self.munge_mark.unlink()

    def __enter__(self) -> "SingleNodeSlurm":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_pid_file(path: Path, timeout_s: float = 10.0) -> None:
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    command, directory = sys.argv[1], Path(sys.argv[2]).resolve()
    slurm = SingleNodeSlurm(directory)
    if command == "start":
        slurm.start()
        print(f"export SLURM_CONF={slurm.conf}")
    else:
        slurm.stop()
