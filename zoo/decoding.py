"""What a trained model answers: the topology's training data (teacher forcing for the generative ones),
beam-search decoding, and the answers in the task's terms (`predict`) and per step (`step_predictions`: the ids
behind every reported step accuracy). `zoo.runs.TrainedRun`, the test evaluation and the demo all answer
through here."""
from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf
from scipy.special import log_softmax, softmax

from zoo.rules import GENERATIVE
from zoo.task import Spec


def model_data(topology: str, ds: tf.data.Dataset, spec: Spec) -> tf.data.Dataset:
    """A task's (input, target) batches as the topology's model reads them: generative ones by teacher forcing; a
    synced model of a series learns the next value at every step."""
    if topology in GENERATIVE:
        return teacher_forcing(ds, spec)
    if spec.outputs == "values" and topology == "synced":
        return ds.map(next_values)
    return ds


def next_values(window, future):
    """(window (batch, steps, 1), the values after it (batch, horizon)) -> the series so far as input, and the
    next value at every step of it as target."""
    series = tf.concat([window[:, :, 0], future], axis=1)
    return series[:, :-1, None], series[:, 1:]


def teacher_forcing(ds: tf.data.Dataset, spec: Spec) -> tf.data.Dataset:
    """(context, target) -> ((context, decoder inputs), next tokens): the decoder reads the target shifted right
    by one, from a start token, and learns to emit the next token. Decoder inputs are 0 wherever the next token
    is padding, so their mask covers exactly the positions that the loss and metrics should count. A value
    decoder reads the values before each step, from the last one of the window."""
    if spec.outputs == "values":
        return ds.map(lambda window, future: (
            (window, tf.concat([window[:, -1:, 0], future[:, :-1]], axis=1)[..., None]), future))

    def shift(context, target):
        if spec.outputs == "tags":
            start = tf.fill([tf.shape(target)[0], 1], tf.cast(spec.decoder_start, target.dtype))
            target = tf.concat([start, target], axis=1)
        inputs, targets = target[:, :-1], target[:, 1:]
        return (context, tf.where(targets != 0, inputs, tf.zeros_like(inputs))), targets

    return ds.map(shift)


# Decoding calls the model on a longer prefix at every step. Keras's predict function relaxes its input shapes
# after the first few traces, but TensorFlow warns about those retraces.
logging.getLogger("tensorflow").addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())


def decode(model: keras.Model, context, spec: Spec, max_length: int | None = None, beam_size: int = 1,
           exclude: tuple[int, ...] = ()) -> list[list[int]]:
    """Generate output ids for every example of `context` by beam search (greedy when beam_size=1). Each step
    runs the model on the prefixes so far and never writes an id in `exclude`; a beam ends at the end token or
    after `max_length` tokens, and the finished beams are ranked by mean log-probability per token."""
    max_length = max_length or spec.output_length - 1  # output_length counts the start token
    end = spec.end_id if spec.outputs == "tokens" else -1  # tags never end early
    n, k = len(keras.tree.flatten(context)[0]), beam_size
    context = keras.tree.map_structure(lambda a: np.repeat(np.asarray(a), k, axis=0), context)
    tokens = np.full((n, k, 1), spec.decoder_start, dtype="int32")
    scores = np.zeros((n, k))
    scores[:, 1:] = -np.inf  # the beams start identical: grow only the first
    done = np.zeros((n, k), dtype=bool)
    rows = np.arange(n)[:, None]
    never = [0, *([spec.start_id] if spec.outputs == "tokens" else []), *exclude]  # padding, start marker, exclude
    for _ in range(max_length):
        logits = model.predict_on_batch([context, tokens.reshape(n * k, -1)])[:, -1].astype("float64")
        log_probs = log_softmax(logits, axis=-1)
        log_probs[:, never] = -np.inf
        log_probs = log_probs.reshape(n, k, -1)
        log_probs[done] = -np.inf
        log_probs[done, 0] = 0.0  # a finished beam only grows padding, at no cost
        total = (scores[:, :, None] + log_probs).reshape(n, -1)
        best = np.argsort(-total, axis=1, kind="stable")[:, :k]
        beam, token = np.divmod(best, log_probs.shape[-1])
        tokens = np.concatenate([tokens[rows, beam], token[:, :, None]], axis=2)
        scores, done = total[rows, best], done[rows, beam] | (token == end)
        if done.all():
            break
    lengths = np.maximum((tokens[:, :, 1:] != 0).sum(axis=2), 1)
    chosen = tokens[np.arange(n), np.argmax(scores / lengths, axis=1), 1:]
    return [row[: row.index(end)] if end in row else row for row in chosen.tolist()]


def probabilities(model: keras.Model, inputs) -> np.ndarray:
    """The softmax of a classifier's or tagger's logits: (batch, classes) or (batch, steps, classes)."""
    return softmax(model.predict_on_batch(inputs).astype("float64"), axis=-1)


STEP_OUTPUTS = {"tags", "next", "tokens"}  # output kinds with one id per step, where 0 marks padding


def predict(model: keras.Model, spec: Spec, topology: str, inputs, beam_size: int = 1,
            exclude: tuple[int, ...] = ()):
    """The model's answers for a batch of inputs: class ids or values (batch,), tag ids (batch, steps), forecast
    values (batch, horizon), or one list of generated token ids per example (never one in `exclude`)."""
    if spec.outputs == "values":
        return forecast(model, spec, topology, inputs)
    if spec.outputs == "value":
        return model.predict_on_batch(inputs)[:, 0]
    if topology not in GENERATIVE:
        return np.argmax(probabilities(model, inputs), axis=-1)
    if spec.outputs == "tags":  # exactly one tag per input step
        steps = np.shape(keras.tree.flatten(inputs)[0])[1]
        return np.array(decode(model, inputs, spec, steps, beam_size, exclude))
    return decode(model, inputs, spec, beam_size=beam_size, exclude=exclude)


def forecast(model: keras.Model, spec: Spec, topology: str, window) -> np.ndarray:
    """The next `spec.output_length` values after each window (batch, steps, 1): all at once (many_to_one), or
    one at a time, each step fed the model's own previous value and never a true one (seq2seq's decoder; a synced
    model run again on the series with its forecast appended)."""
    window = np.asarray(window, dtype="float32")
    if topology not in ("seq2seq", "synced"):
        return np.asarray(model.predict_on_batch(window))
    values, series, previous = [], window[:, :, 0], window[:, -1:, :1]
    for _ in range(spec.output_length):
        if topology == "seq2seq":
            step = np.asarray(model.predict_on_batch([window, previous]))[:, -1]
            previous = np.concatenate([previous, step[:, None, None]], axis=1)
        else:
            step = np.asarray(model.predict_on_batch(series[:, :, None]))[:, -1]
            series = np.concatenate([series, step[:, None]], axis=1)
        values.append(step)
    return np.stack(values, axis=1)


def step_predictions(model: keras.Model, spec: Spec, topology: str, ds: tf.data.Dataset) -> list[tuple]:
    """(inputs, gold ids, predicted ids) for every batch of `ds`, one id per step (0 = padding in the gold ids):
    the tags or next tokens that `predict` gives, or, for generated sequences, the next token the decoder gives
    after the gold ones (teacher forcing; the decoded sequences are the task's to score, e.g. by BLEU)."""
    if spec.outputs == "tokens":
        return [(x, y.numpy(), np.argmax(model.predict_on_batch(x), axis=-1))
                for x, y in model_data(topology, ds, spec)]
    return [(x, y.numpy(), predict(model, spec, topology, x)) for x, y in ds]
