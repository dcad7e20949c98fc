"""The released MLP recipe run in Keras itself (tf-keras, the Keras 2 API; `pip install -e .[keras]`): one
network per cell, built, trained and read as the reference scripts do (docs/spec.md Part B §2.2–2.4), so that its codes,
scored by acthash's own metric code, separate "our port differs from Keras" from "the figures came from other
code". A cell with `framework: keras` trains here instead of in the stacked trainer; everything after training
(cell files, metrics, merge, compare-paper, plots) is shared.

The model: depth × [Dense(width, glorot_uniform, L2 on the kernel) → BatchNormalization(momentum 1 − bn_momentum,
epsilon bn_eps) → Activation('relu')] → Dense(classes, softmax); Adam (lr, ε = adam_eps), categorical
cross-entropy (tf-keras takes it from the logits; with `ce_clip`, on clipped probabilities as standalone
Keras 2.2 does), the cell's batch size (64), Keras' own shuffling every epoch, the step schedule through LearningRateScheduler and
EarlyStopping(monitor='loss', patience) as Keras computes them, on the cell's (tiled) training rows. Codes are
the outputs of the Activation layers in inference mode, read at the checkpoint epochs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from acthash.data.samples import Samples, stream_seed
from acthash.nets.codes import MemberCodes
from acthash.nets.results import Checkpoint, MemberResult
from acthash.params.cell import Cell


def _codes(reader, x: np.ndarray, labels: np.ndarray, batch: int = 4096) -> MemberCodes:
    """The Activation layers' on/off pattern of `x` (inference mode), packed, with the network's loss (the exact
    cross-entropy of its logits, as the torch trainer reports it) and accuracy on `labels`."""
    outs = reader.predict(x, batch_size=batch, verbose=0)
    hidden, logits = outs[:-1], outs[-1].astype(np.float64)
    bits = np.concatenate([h > 0 for h in hidden], axis=1)
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted[np.arange(len(labels)), labels] - np.log(np.exp(shifted).sum(1))
    pred = logits.argmax(1)
    return MemberCodes(np.packbits(bits, axis=1), bits.shape[1], bits.any(0), bits.all(0), float(-log_p.sum()),
                       int((pred == labels).sum()), pred.astype(np.int16))


def _clipped_loss(clip: float):
    """Standalone Keras 2.2's categorical cross-entropy: on the softmax probabilities, renormalised and clipped
    to [clip, 1 - clip] (tf-keras computes it from the logits instead, unclipped)."""
    import tensorflow as tf

    def loss(target, output):
        output = tf.clip_by_value(output / tf.reduce_sum(output, -1, keepdims=True), clip, 1 - clip)
        return -tf.reduce_sum(target * tf.math.log(output), -1)

    return loss


def _build(keras: Any, cell: Cell, in_dim: int, n_classes: int) -> tuple[Any, Any]:
    """The cell's compiled model (softmax output) and a reader of its hidden ReLUs and logits."""
    inputs = keras.Input(shape=(in_dim,))
    x, acts = inputs, []
    for _ in range(cell.depth):
        x = keras.layers.Dense(cell.width, kernel_regularizer=keras.regularizers.l2(cell.weight_decay))(x)
        if cell.bn:
            x = keras.layers.BatchNormalization(momentum=1 - cell.bn_momentum, epsilon=cell.bn_eps)(x)
        x = keras.layers.Activation("relu")(x)
        acts.append(x)
    logits = keras.layers.Dense(n_classes)(x)
    probs = keras.layers.Activation("softmax")(logits)  # the same function as Dense(..., activation="softmax")
    model = keras.Model(inputs, probs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cell.lr, epsilon=cell.adam_eps),
                  loss=_clipped_loss(cell.ce_clip) if cell.ce_clip else "categorical_crossentropy")
    return model, keras.Model(inputs, [*acts, logits])


def train_keras(cell: Cell, samples: Samples, x_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                n_classes: int, log: Callable[[str], None]) -> MemberResult:
    """Train one cell's network in tf-keras and read it at the cell's checkpoints → its `MemberResult`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tf_keras as keras
    except ImportError as err:
        raise ImportError("framework=keras needs TensorFlow and tf-keras: pip install -e '.[keras]'") from err

    import tensorflow as tf

    keras.utils.set_random_seed(stream_seed(cell.seed, 5) % 2**31)  # weights, shuffling: one stream per seed
    tf.config.experimental.enable_op_determinism()  # the same cell, the same numbers
    flat = x_train.reshape(len(x_train), -1)
    model, reader = _build(keras, cell, flat.shape[1], n_classes)
    train_x, train_y = flat[samples.index], samples.labels
    test_x = x_test.reshape(len(x_test), -1)
    result = MemberResult(code_length=cell.width * cell.depth)

    def read(epoch: int) -> None:
        result.checkpoints.append(Checkpoint(epoch, _codes(reader, train_x, train_y), _codes(reader, test_x, y_test)))

    class Readings(keras.callbacks.Callback):
        """Codes at each checkpoint epoch, the loss and learning-rate history, and the stopping epoch."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            result.loss.append(float(logs["loss"]))
            result.lr.append(float(keras.backend.get_value(self.model.optimizer.learning_rate)))
            if not np.isfinite(result.loss[-1]):
                result.status, result.stopped_epoch = "diverged", epoch + 1
                self.model.stop_training = True
            elif epoch + 1 in cell.checkpoints:
                read(epoch + 1)
            log(f"keras {cell.name}: epoch {epoch + 1}/{cell.checkpoints[-1]} loss={result.loss[-1]:.4f}")

    if 0 in cell.checkpoints:
        read(0)
    callbacks = [keras.callbacks.LearningRateScheduler(lambda e: cell.lr_at(e + 1)),  # Keras counts from 0
                 Readings()]
    if cell.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="loss", patience=cell.patience))
    rows = samples.index[samples.rows]
    onehot = np.eye(n_classes, dtype=np.float32)[samples.labels[samples.rows]]
    model.fit(flat[rows], onehot, batch_size=cell.batch_size, epochs=cell.checkpoints[-1], shuffle=True, verbose=0,
              callbacks=callbacks)
    done = len(result.loss)
    if result.status == "ok" and done < cell.checkpoints[-1]:  # stopped early: later checkpoints read the last weights
        result.stopped_epoch = done
        for epoch in cell.checkpoints:
            if epoch > done:
                read(epoch)
    return result
