"""Real clusters on this machine for the sweep tests: a single-node Slurm (munge, MariaDB, slurmdbd, slurmctld and
slurmd, as Debian packages them) and a Ray cluster of a head and worker nodes, each its own `ray start` process.

Everything a cluster writes (configs, state, logs, sockets) lives in one folder the caller gives; `stop()` ends
every daemon it started. Neither is a mock: the zoo's sweeps reach them through sbatch, sacct and Ray's own
client, as they would a cluster's."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SLURM_DAEMONS = ("munged", "mungekey", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float = 60, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s{': ' + tail if tail else ''}")


def slurm_missing() -> str | None:
    """Why a Slurm cluster cannot be started here, or None."""
    missing = [name for name in SLURM_DAEMONS if shutil.which(name) is None]
    if missing:
        return f"Slurm is not installed (no {', '.join(missing)}: apt-get install slurm-wlm slurmdbd munge " \
               f"mariadb-server)"
    if os.geteuid() != 0:
        return "the Slurm daemons are started as root, and this is not root"
    return None


class Slurm:
    """A one-node Slurm cluster with accounting (sacct reads job states from slurmdbd, as submitit needs)."""

    def __init__(self, folder: Path, cpus: int | None = None):
        self.folder = folder
        self.cpus = cpus or os.cpu_count()
        self.processes: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}

    def start(self) -> Slurm:
        f = self.folder
        for sub in ("state", "spool", "mysql", "munge"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(f, 0o755)
        if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode != 0:
            # Slurm's clients reach munged at its default socket only: a munged of our own is started there
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            key = f / "munge" / "munge.key"
            subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
            subprocess.run(["munged", "--force", f"--key-file={key}", f"--pid-file={f / 'munge' / 'munged.pid'}",
                            f"--log-file={f / 'munge' / 'munged.log'}", f"--seed-file={f / 'munge' / 'munged.seed'}"],
                           check=True)
        mysql_port, dbd_port, ctld_port, slurmd_port = (free_port() for _ in range(4))
        subprocess.run(["mariadb-install-db", "--user=root", f"--datadir={f / 'mysql'}", "--skip-test-db",
                        "--auth-root-authentication-method=normal"], check=True, capture_output=True)
        self.daemon(["mariadbd", "--user=root", f"--datadir={f / 'mysql'}", f"--socket={f / 'mysql.sock'}",
                     f"--port={mysql_port}", "--bind-address=127.0.0.1", f"--pid-file={f / 'mysql.pid'}",
                     "--skip-grant-tables", "--skip-networking=0"], f / "mariadb.log")
        wait_for(lambda: (f / "mysql.sock").exists(), "MariaDB", log=f / "mariadb.log")
        auth = "AuthType=auth/munge\nSlurmUser=root\n"
        dbd_conf = f / "slurmdbd.conf"
        dbd_conf.write_text(
            f"{auth}DbdHost=localhost\nDbdPort={dbd_port}\nStorageType=accounting_storage/mysql\n"
            f"StorageHost=127.0.0.1\nStoragePort={mysql_port}\nStorageUser=root\nStorageLoc=slurm_acct_db\n"
            f"PidFile={f / 'slurmdbd.pid'}\nLogFile={f / 'slurmdbd.log'}\n")
        os.chmod(dbd_conf, 0o600)
        host = socket.gethostname().split(".")[0]
        (f / "slurm.conf").write_text(
            f"ClusterName=zoo\nSlurmctldHost={host}(127.0.0.1)\n{auth}CredType=cred/munge\n"
            f"SlurmctldPort={ctld_port}\nSlurmdPort={slurmd_port}\nStateSaveLocation={f / 'state'}\n"
            f"SlurmdSpoolDir={f / 'spool'}\nSlurmctldPidFile={f / 'slurmctld.pid'}\n"
            f"SlurmdPidFile={f / 'slurmd.pid'}\nSlurmctldLogFile={f / 'slurmctld.log'}\n"
            f"SlurmdLogFile={f / 'slurmd.log'}\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nMpiDefault=none\nReturnToService=2\n"
            "KillWait=5\nMinJobAge=600\nSlurmdParameters=config_overrides\nJobAcctGatherType=jobacct_gather/none\n"
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n"
            f"AccountingStoragePort={dbd_port}\n"
            f"NodeName=zoo-node NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=4000 State=UNKNOWN\n"
            "PartitionName=zoo Nodes=zoo-node Default=YES MaxTime=INFINITE State=UP\n")
        self.daemon(["slurmdbd", "-D"], f / "slurmdbd.out")
        wait_for(lambda: self.command("sacctmgr", "-n", "list", "cluster", check=False).returncode == 0,
                 "slurmdbd", log=f / "slurmdbd.log")
        self.command("sacctmgr", "-i", "add", "cluster", "zoo", check=False)
        self.daemon(["slurmctld", "-D", "-i"], f / "slurmctld.out")
        self.daemon(["slurmd", "-D", "-N", "zoo-node"], f / "slurmd.out")
        wait_for(lambda: "idle" in self.command("sinfo", "-h", "-o", "%t", check=False).stdout, "slurmd",
                 log=f / "slurmd.log")
        return self

    def daemon(self, command: list[str], log: Path) -> None:
        self.processes.append(subprocess.Popen(command, env=self.env, stdout=log.open("w"),
                                               stderr=subprocess.STDOUT, start_new_session=True))

    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=self.env, capture_output=True, text=True, check=check)

    def stop(self) -> None:
        self.command("scancel", "--user=root", check=False)
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        pid_file = self.folder / "munge" / "munged.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


class Ray:
    """A Ray cluster of a head and `workers` worker nodes, each a `ray start` of its own with its own resources.
    By default the head offers no CPU, so every job runs on a worker node."""

    def __init__(self, folder: Path, workers: int = 2, cpus_per_worker: int = 1, head_cpus: int = 0):
        self.folder, self.workers, self.cpus, self.head_cpus = folder, workers, cpus_per_worker, head_cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}

    def start(self) -> Ray:
        subprocess.run([self.ray, "start", "--head", f"--port={self.port}", "--node-ip-address=127.0.0.1",
                        f"--num-cpus={self.head_cpus}", "--include-dashboard=false", f"--temp-dir={self.folder}",
                        "--object-store-memory=100000000", "--disable-usage-stats"],
                       env=self.env, check=True, capture_output=True)
        for i in range(self.workers):
            subprocess.run([self.ray, "start", f"--address={self.address}", "--node-ip-address=127.0.0.1",
                            f"--num-cpus={self.cpus}", f"--resources={{\"worker_{i}\": 1}}",
                            "--object-store-memory=100000000"],
                           env=self.env, check=True, capture_output=True)
        wait_for(lambda: len(self.alive_nodes()) == self.workers + 1, "the Ray worker nodes")
        return self

    def alive_nodes(self) -> list[dict]:
        script = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
                  "print(json.dumps([n for n in ray.nodes() if n['Alive']]))" % self.address)
        out = subprocess.run([sys.executable, "-c", script], env=self.env, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else []

    def raylets(self) -> dict[int, int]:
        """pid -> worker number of each worker node's raylet (the process that is the node)."""
        found = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            for arg in args:
                if arg.startswith(b"--static_resource_list=worker_"):
                    found[int(pid)] = int(arg.split(b"worker_")[1].split(b",")[0])
        return found

    def kill_node_running(self, pid: int) -> int:
        """SIGKILLs the raylet of the worker node whose process `pid` is (or descends from); its number."""
        raylets = self.raylets()
        while pid not in raylets:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent
            assert pid > 1, "not on a worker node"
        os.kill(pid, signal.SIGKILL)
        return raylets[pid]

    def stop(self) -> None:
        subprocess.run([self.ray, "stop", "--force"], env=self.env, capture_output=True)
