"""`python -m zoo task=imdb cell=gru`: train and evaluate one configuration (or a sweep with -m)."""
import os
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from zoo.config import register
from zoo.errors import ZooError

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from zoo.runner import run  # TensorFlow loads here, after Hydra has checked the config

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        run(cfg, run_dir)
    except Exception as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if not isinstance(error, ZooError):  # a bug, not bad input: keep the traceback for the report
            (run_dir / "traceback.txt").write_text(traceback.format_exc())
        print(f"error: {error}", file=sys.stderr)
        if hydra_cfg.mode == RunMode.RUN:
            sys.exit(1)
        # in a sweep the failure is recorded in the job's metrics.json and the next job runs


if __name__ == "__main__":
    main()
