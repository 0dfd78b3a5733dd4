"""The optimizer compile_model builds: LazyAdam (trainer.sparse_updates), Adam's step on the embedding rows a batch
read and no step on the others, and decoupled weight decay (trainer.weight_decay)."""
import keras
import numpy as np
import tensorflow as tf

from zoo.optimizers import LazyAdam

EVERY_ROW = tf.IndexedSlices(tf.constant([[1.0, -2.0], [0.5, 0.5], [3.0, 1.0], [-1.0, 2.0], [0.2, 0.1]]),
                             tf.constant([0, 1, 2, 1, 3]), tf.constant([4, 2]))  # row 1 read twice: its slices add
FIRST_ROWS = tf.IndexedSlices(tf.constant([[1.0, 1.0], [-2.0, 0.5]]), tf.constant([0, 1]), tf.constant([4, 2]))


def table_after(optimizer, gradients, dense: bool) -> np.ndarray:
    table = keras.Variable(np.ones((4, 2), dtype="float32"))
    for gradient in gradients:
        optimizer.apply([tf.convert_to_tensor(gradient) if dense else gradient], [table])
    return table.numpy()


def test_lazy_adam_steps_as_adam_on_the_rows_read():
    for clipnorm in (None, 0.5):
        np.testing.assert_allclose(table_after(LazyAdam(0.1, clipnorm=clipnorm), [EVERY_ROW] * 3, dense=False),
                                   table_after(keras.optimizers.Adam(0.1, clipnorm=clipnorm), [EVERY_ROW] * 3,
                                               dense=True), atol=1e-6)


def test_lazy_adam_leaves_the_rows_not_read_where_they_were():
    gradients = [EVERY_ROW, FIRST_ROWS, FIRST_ROWS]
    after_one = table_after(LazyAdam(0.1), gradients[:1], dense=False)
    lazy = table_after(LazyAdam(0.1), gradients, dense=False)
    np.testing.assert_array_equal(lazy[2:], after_one[2:])
    assert not np.allclose(lazy[:2], after_one[:2])
    dense = table_after(keras.optimizers.Adam(0.1), gradients, dense=True)
    assert not np.allclose(dense[2:], after_one[2:])  # Adam's momentum moves them on


def test_weight_decay_shrinks_every_weight_by_the_learning_rate_times_it():
    from zoo.config import compose_config
    from zoo.runner import compile_model

    zero = tf.IndexedSlices(tf.zeros((1, 2)), tf.constant([0]), tf.constant([4, 2]))
    for sparse_updates in (False, True):
        trainer = compose_config(["trainer.learning_rate=0.1", "trainer.clipnorm=null", "trainer.weight_decay=0.5",
                                  f"trainer.sparse_updates={sparse_updates}"]).trainer
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        compile_model(model, "mse", [], trainer)
        np.testing.assert_allclose(table_after(model.optimizer, [zero], dense=not sparse_updates), 0.95)
