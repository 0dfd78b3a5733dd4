"""Hydra launchers for clusters where a job can end without returning: Slurm cancels it (`scancel`), its time
limit or a pre-emption stops it, its node is lost. hydra-submitit's launcher then raises for that job and the
whole sweep ends without its table; the zoo's (`hydra/launcher=slurm`, conf/hydra/launcher/slurm.yaml) waits
for every job, and a job that ended early is one unfinished row of the sweep's
table. Its run folder keeps the checkpoint of its last finished epoch, so the same command with
`hydra.sweep.dir=<the sweep>` resumes it and skips the finished jobs.

Hydra instantiates launchers from the `hydra_plugins` namespace only: this package installs as `hydra_plugins.zoo`
(pyproject.toml's package-dir)."""
from __future__ import annotations

import logging
from typing import Sequence

from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_submitit_launcher import submitit_launcher

log = logging.getLogger(__name__)


class EndedEarlyTolerant:
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit
        from submitit.core.utils import UncompletedJobError

        results = submitit.Job.results

        def results_or_ended(job):
            try:
                return results(job)
            except UncompletedJobError:
                log.error(f"job {job.job_id} ended before its run finished (Slurm state {job.state}); the same "
                          f"command with hydra.sweep.dir=<this sweep> resumes it")
                return [JobReturn(status=JobStatus.COMPLETED, _return_value=None)]

        # the plugin's launch reads every job's results in one list: each read answers for its own job here
        submitit.Job.results = results_or_ended
        try:
            return super().launch(job_overrides, initial_job_idx)
        finally:
            submitit.Job.results = results


class SlurmLauncher(EndedEarlyTolerant, submitit_launcher.SlurmLauncher):
    pass
