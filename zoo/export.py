"""`python -m zoo.export RUN --out DIR`: a TensorFlow SavedModel of a trained run that serves raw input.

Its `serve` function takes what a user has (review strings for imdb, sentence strings for pos, a float
tensor of the nine features in their own units for bp) and returns a dict of tensors named as `zoo.predict`'s
output fields: `label` (strings), `probability` and `probabilities` (in the task's label order), or `tags`
(strings, "" after a sentence's last word). The preprocessing (vocabularies, scaling) is inside the graph,
built from the run's saved state, as the keras-io "end-to-end model" examples build it. Tasks that generate
(translation, captioning, shakespeare) or read generated examples (memory) are used through `zoo.predict`.

    reloaded = tf.saved_model.load(DIR)
    reloaded.serve(tf.constant(["It was not great, but I recommend it."]))["label"]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.errors import ZooError


def export(run_dir, out) -> Path:
    """Write the run's SavedModel to `out` (which must not exist yet: nothing already written is replaced)."""
    out = Path(out)
    if out.exists():
        raise ZooError(f"{out} exists; give --out a new folder")
    from zoo.runs import load

    run = load(run_dir)
    import keras
    import tensorflow as tf

    serving = getattr(run.task, "serving", None)
    if serving is None:
        raise ZooError(f"task={run.cfg.task.name} is not exported (it generates or reads generated examples); "
                       "use python -m zoo.predict or zoo.load")
    serve, signature, resources = serving(run)
    archive = keras.export.ExportArchive()
    archive.track(run.model)
    for lookup in resources:  # the preprocessing's lookup layers, built by a first call
        lookup(tf.constant([""]))
        archive.track(lookup)
    archive.add_endpoint("serve", serve, input_signature=signature)
    archive.write_out(str(out), verbose=False)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zoo.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", metavar="RUN", help="a finished run folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="the SavedModel's folder (new)")
    args = parser.parse_args(argv)
    try:
        print(f"SavedModel written to {export(Path(args.run), args.out)}")
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
