"""The optimizer compile_model builds: LazyAdam (optimizer=lazy_adam), Adam's step on the embedding rows a batch
read and no step on the others, decoupled weight decay (optimizer=adamw, optimizer.weight_decay) and the weights'
moving average (trainer.ema_momentum)."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

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
    for optimizer in ("adamw", "lazy_adam"):
        cfg = compose_config(["trainer.learning_rate=0.1", "trainer.clipnorm=null", f"optimizer={optimizer}",
                              "optimizer.weight_decay=0.5"])
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        compile_model(model, "mse", [], cfg.trainer, OmegaConf.to_object(cfg.optimizer))
        np.testing.assert_allclose(table_after(model.optimizer, [zero], dense=optimizer == "adamw"), 0.95)


LINE_X = np.arange(8, dtype="float32").reshape(-1, 1) / 8
LINE_Y = 2 * LINE_X + 1


def fit_line(ema_momentum: str, callbacks: list) -> list:
    """The weights after each training step of a line fitted for two epochs of four steps."""
    from zoo.config import compose_config
    from zoo.runner import compile_model

    cfg = compose_config(["trainer.learning_rate=0.1", "trainer.clipnorm=null", f"trainer.ema_momentum={ema_momentum}"])
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones")])
    compile_model(model, "mse", [], cfg.trainer, OmegaConf.to_object(cfg.optimizer))
    trained = []
    after_step = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: trained.append(model.get_weights()))
    model.fit(LINE_X, LINE_Y, batch_size=2, epochs=2, validation_data=(LINE_X, LINE_Y), shuffle=False, verbose=0,
              callbacks=[*callbacks, after_step])
    return trained


def assert_same_steps(trained: list, expected: list):
    for step, (weights, expected_weights) in enumerate(zip(trained, expected, strict=True)):
        for w, e in zip(weights, expected_weights):
            np.testing.assert_allclose(w, e, rtol=1e-6, err_msg=f"step {step}")


def test_validation_and_the_callbacks_after_it_see_the_moving_average_of_the_weights():
    from zoo.runner import ResumableSwapEMAWeights

    seen = []
    after_swap = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append((logs["val_loss"], *after_swap.model.get_weights())))
    trained = fit_line("0.5", [ResumableSwapEMAWeights(resumed=False), after_swap])
    assert_same_steps(trained, fit_line("null", []))  # the average never steers training
    average = trained[0]
    for step, weights in enumerate(trained[1:], start=1):
        average = [0.5 * a + 0.5 * w for a, w in zip(average, weights)]
        if step % 4 == 3:
            val_loss, kernel, bias = seen[step // 4]
            np.testing.assert_allclose(kernel, average[0], rtol=1e-5)
            np.testing.assert_allclose(bias, average[1], rtol=1e-5)
            assert val_loss == pytest.approx(float(np.mean((LINE_X @ kernel + bias - LINE_Y) ** 2)), rel=1e-4)
            assert not np.allclose(kernel, weights[0])


def test_a_resumed_run_trains_on_from_the_weights_not_their_average(tmp_path):
    from zoo.runner import ResumableSwapEMAWeights

    def backup():
        return keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False)

    class Interrupt(keras.callbacks.Callback):  # after the first epoch's backup, as a kill would
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    whole = fit_line("0.5", [ResumableSwapEMAWeights(resumed=False)])
    first = fit_line("0.5", [ResumableSwapEMAWeights(resumed=False), backup(), Interrupt()])
    second = fit_line("0.5", [ResumableSwapEMAWeights(resumed=True), backup()])
    assert_same_steps(first + second, whole)
