"""`StabilityModel`: a functional `keras.Model` trained with Stability Training."""

import copy
import random

import keras
from keras import ops

from keras_stability._backend import replica_id
from keras_stability._backend import unscale_for_replicas
from keras_stability._batch_statistics import clean_rows
from keras_stability._batch_statistics import track_clean_statistics
from keras_stability._model_checks import check_arguments
from keras_stability._model_checks import check_inputs
from keras_stability._model_checks import split_batch
from keras_stability._outputs import output_aliases
from keras_stability._outputs import same_tensors
from keras_stability._outputs import symbolic_io
from keras_stability._seeds import StepSeed
from keras_stability._seeds import seed_dtype
from keras_stability._terms import random_rows
from keras_stability._terms import stability_term
from keras_stability._terms import task_weight
from keras_stability.perturbations import apply_perturbation
from keras_stability.perturbations import attack_objective
from keras_stability.perturbations import default_perturbation
from keras_stability.perturbations import needs_objective

__all__ = ["DEFAULT_ALPHA", "StabilityModel", "default_perturbation"]

# The weight of the stability term a user gets without reading the paper,
# chosen with the perturbation by benchmarks/robustness.py (see
# `default_perturbation`).
DEFAULT_ALPHA = 3.0


# `evaluate` perturbs with the step slot set to this value, which training
# never reaches, so validation stability is repeatable and independent of
# how far training has gone.
_EVALUATION_STEP = 2**30 - 1

# More views than this would join a batch many times its size in one pass.
_MAX_VIEWS = 16

_STABILITY_ARGS = (
    "perturbation",
    "stability_loss",
    "alpha",
    "from_logits",
    "stop_gradient_clean",
    "stability_outputs",
    "seed",
    "num_views",
    "perturb_fraction",
    "confidence_threshold",
    "sharpen_temperature",
    "signal_annealing",
    "annealing_steps",
)


@keras.saving.register_keras_serializable(package="keras_stability")
class StabilityModel(keras.Model):
    """A functional Keras model trained with Stability Training.

    Use it in place of `keras.Model`: build it from inputs and outputs (or
    wrap an existing model with `StabilityModel.from_model`), `compile` and
    `fit` as usual. Each training step draws a perturbed copy `x'` of the
    batch, runs the same network on it, and adds `alpha` times a stability
    term comparing the outputs on `x` and `x'` to the compiled loss:

    - `x' = perturbation(x)`, with no gradient through the perturbation. Our
      `Perturbation` layers are applied to every input tensor; any other
      layer or callable receives the whole input structure.
    - The stability term goes through `keras.losses.Loss` reduction, so
      sample weights weight it, `tf.distribute` divides it by the number of
      replicas and a `LossScaleOptimizer` scales it, like the compiled loss.
    - The gradient flows through both branches unless
      `stop_gradient_clean=True` detaches the clean one (as in UDA).
    - `fit` and `evaluate` log `stability_loss`, the unweighted term.
      `evaluate` perturbs with a fixed seed, so `val_stability_loss` is
      repeatable. `predict` and `__call__` never perturb.
    - The perturbation's random stream is a pure function of a `(seed,
      step)` pair kept among the model's weights (`perturbation_seed`), so
      `keras.callbacks.BackupAndRestore` resumes it exactly.
    - In training, f(x) and f(x') come from one forward pass over the clean
      and the perturbed batch joined (as AugMix computes its views; with
      `num_views=k`, over the clean batch and `k` perturbed copies).
      `BatchNormalization` layers normalize both halves with the clean
      half's statistics and track only those, so their moving statistics
      are the clean data's.
    - A perturbation holding `perturbations.Adversarial` (TRADES's x')
      attacks the term between f(x) and f(x'), both computed in inference
      mode for the attack, from f(x) fixed; the step then trains on the
      attacked copy like on any other.
    - Batches from `data.with_unlabeled` mark which rows have labels: the
      compiled loss is the mean over the labeled rows only, the stability
      term covers every row (semi-supervised training, as in UDA). `predict` and `evaluate` run the network on one
      batch at a time. A `y_pred` that `call` did not make in training (a
      custom loop calling `compute_loss` on other outputs) gets f(x') from
      a pass of its own.
    - `fit` and `evaluate` first check their inputs: NumPy arrays whole, a
      dataset by its first batch. NaN, inf, or values outside the
      perturbation's `value_range` raise a `ValueError` before any step
      (inside a step, XLA and JAX's `jit` cannot read values).

    Formula:

    ```
    loss = compiled_loss(y, f(x)) + alpha * stability_loss(f(x), f(x'))
    ```

    Args:
        inputs: the model's inputs, as for a functional `keras.Model`.
        outputs: the model's outputs, as for a functional `keras.Model`.
        perturbation: a `keras_stability.perturbations.Perturbation`, any
            Keras layer (called with `training=True`) or a callable on the
            inputs. Defaults to `perturbations.default_perturbation` for the
            shape of the model's (smallest) image input: noise, JPEG, shifted
            crops and thumbnails, one per image, at severities drawn per
            image; the paper trained with `GaussianNoise(stddev=0.04)`.
        stability_loss: `"kl"` (KL(P(y|x) || P(y|x')), clean first),
            `"cross_entropy"` (the paper's written form), `"jsd"`, `"l2"`
            (the paper's embedding distance), `"squared_l2"`, a
            `keras.losses.Loss`, or a callable `fn(clean, perturbed)`
            returning a per-sample loss. Defaults to `"kl"`.
        alpha: the weight of the stability term, >= 0. Defaults to
            `DEFAULT_ALPHA` (3.0).
        from_logits: whether the outputs are logits, for `"kl"`,
            `"cross_entropy"` and `"jsd"` given by name (a loss object takes
            its own `from_logits`). With `False` the outputs are read as
            probabilities, clipped to `[keras.config.epsilon(), 1]`; an
            output straight from a layer with a linear activation (e.g.
            `Dense(10)`) is refused, as it certainly holds logits. Defaults
            to `False`.
        stop_gradient_clean: detach the clean branch in the stability term.
            Defaults to `False`.
        stability_outputs: the name of an output, or a list of names, the
            term applies to. Defaults to `None` (every output).
        seed: an int in `[0, 2**31 - 1]` seeding the perturbations.
            Defaults to `None` (drawn at random, then kept with the weights).
        num_views: how many perturbed copies each step draws, an int in
            [1, 16]. With several, `stability_loss="jsd"` is the
            Jensen-Shannon divergence among the clean and all perturbed
            distributions (AugMix's form, `losses.jensen_shannon_consistency`)
            and any other loss is averaged over the views; the joined pass
            holds the clean batch and every view. Defaults to 1 (the paper's
            single x').
        perturb_fraction: the share of each batch that is perturbed, a
            float in (0, 1]: each step draws `round(f * batch)` rows (at
            least one) at random, the views hold those rows only and the
            term is their mean, so a step costs less. Defaults to 1.0.
        confidence_threshold: UDA's confidence mask, a float in [0, 1) or
            None: rows whose clean prediction's largest probability is not
            above it add no term (`consistency.confidence_mask`); the share
            that passes is logged as `confidence_mask_share`. Needs a
            distribution loss. Defaults to `None` (every row).
        sharpen_temperature: UDA's sharpening of the clean distribution
            the term compares with, a float > 0 or None
            (`consistency.sharpen`; UDA pairs it with
            `stop_gradient_clean=True`). Needs a distribution loss.
            Defaults to `None`.
        signal_annealing: UDA's Training Signal Annealing of the compiled
            loss, `"linear"`, `"log"`, `"exp"` or None: labeled rows whose
            true class the model already predicts above a threshold rising
            from `1 / classes` to 1 over `annealing_steps` training steps
            leave the compiled loss (`consistency.annealing_threshold`);
            the share kept is logged as `signal_annealing_share`. Needs one
            output of shape `(batch, classes)`, read as logits with
            `from_logits=True` (or a loss object's). Defaults to `None`.
        annealing_steps: the steps over which the annealing threshold rises,
            an int >= 1, with `signal_annealing`. Defaults to `None`.
        name: the model's name. Defaults to `None`.
        **kwargs: passed to `keras.Model`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_stability import StabilityModel
    >>> inputs = keras.Input((8, 8, 1))
    >>> outputs = keras.layers.Dense(3, activation="softmax")(
    ...     keras.layers.Flatten()(inputs))
    >>> model = StabilityModel(inputs, outputs, alpha=0.5, seed=0)
    >>> model.compile("sgd", "sparse_categorical_crossentropy")
    >>> x = np.random.default_rng(0).random((16, 8, 8, 1), "float32")
    >>> y = np.arange(16) % 3
    >>> history = model.fit(x, y, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['loss', 'stability_loss']

    Reference:
        Zheng, Song, Leung, Goodfellow. Improving the Robustness of Deep
        Neural Networks via Stability Training. CVPR 2016.
    """

    def __init__(
        self,
        inputs,
        outputs,
        perturbation=None,
        stability_loss="kl",
        alpha=DEFAULT_ALPHA,
        from_logits=False,
        stop_gradient_clean=False,
        stability_outputs=None,
        seed=None,
        num_views=1,
        perturb_fraction=1.0,
        confidence_threshold=None,
        sharpen_temperature=None,
        signal_annealing=None,
        annealing_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        # Check, then store each argument under its name.
        arguments = dict(
            perturbation=perturbation,
            stability_loss=stability_loss,
            alpha=alpha,
            from_logits=from_logits,
            stop_gradient_clean=stop_gradient_clean,
            stability_outputs=stability_outputs,
            seed=seed,
            num_views=num_views,
            perturb_fraction=perturb_fraction,
            confidence_threshold=confidence_threshold,
            sharpen_temperature=sharpen_temperature,
            signal_annealing=signal_annealing,
            annealing_steps=annealing_steps,
        )
        arguments, loss_fn = check_arguments(self, arguments, _MAX_VIEWS)
        for key in _STABILITY_ARGS:
            setattr(self, key, arguments[key])
        self._stability_loss_fn = loss_fn
        self._reads_logits = bool(getattr(loss_fn, "from_logits", self.from_logits))
        # Build: the `(seed, step)` pair of the perturbations' random stream,
        # the metrics, and the per-step state `call` hands to `compute_loss`.
        initial_seed = self.seed if self.seed is not None else random.randint(1, 2**30)
        self.perturbation_seed = self.add_weight(
            shape=(2,),
            initializer=lambda shape, dtype: ops.convert_to_tensor(
                [initial_seed, 0], dtype=dtype
            ),
            dtype=seed_dtype(),
            trainable=False,
            aggregation="only_first_replica",
            name="perturbation_seed",
        )
        self.stability_loss_tracker = keras.metrics.Mean(name="stability_loss")
        self.confidence_mask_tracker = (
            None
            if self.confidence_threshold is None
            else keras.metrics.Mean(name="confidence_mask_share")
        )
        self.signal_annealing_tracker = (
            None
            if self.signal_annealing is None
            else keras.metrics.Mean(name="signal_annealing_share")
        )
        # Set by `call` and read by `compute_loss` within one step;
        # `_separate_pass` makes `call` run the network alone.
        self._joint_outputs = None
        self._given_copy = None
        self._separate_pass = False
        # BatchNormalization takes statistics from the clean half only.
        track_clean_statistics(self)

    def __call__(self, *args, **kwargs):
        # A batch from `data.with_perturbed_copy`: the model's output is on
        # x, and x' goes to `call` apart (Keras checks the inputs' structure).
        if not args:
            return super().__call__(*args, **kwargs)
        clean, self._given_copy, _ = split_batch(args[0])
        try:
            return super().__call__(clean, *args[1:], **kwargs)
        finally:
            self._given_copy = None

    def call(self, inputs, training=None, **kwargs):
        """The network on `inputs`; in training, on `x` and `x'` joined.

        See the class docstring. The output is f(x); `compute_loss` finds
        f(x') beside it.
        """
        # JAX's stateless_call reaches `call` without `__call__`.
        clean, given, _ = split_batch(inputs)
        if given is None:
            given = getattr(self, "_given_copy", None)
        self._joint_outputs = None
        if (
            not training
            or self._separate_pass
            or any(isinstance(t, keras.KerasTensor) for t in keras.tree.flatten(clean))
        ):
            return super().call(clean, training=training, **kwargs)
        rows, views = self._views(clean, given, training=True)
        count = ops.shape(keras.tree.flatten(clean)[0])[0]
        size = count if rows is None else ops.shape(rows)[0]

        def join(a, *copies):
            a = ops.convert_to_tensor(a)
            copies = [ops.stop_gradient(ops.convert_to_tensor(b)) for b in copies]
            dtype = keras.backend.result_type(a.dtype, *(b.dtype for b in copies))
            return ops.concatenate([ops.cast(t, dtype) for t in (a, *copies)], axis=0)

        joint = keras.tree.map_structure(join, clean, *views)
        with clean_rows(count):
            outputs = super().call(joint, training=training, **kwargs)
        clean_outputs = keras.tree.map_structure(lambda t: t[:count], outputs)
        self._joint_outputs = (
            clean_outputs,
            rows,
            [
                keras.tree.map_structure(
                    lambda t, i=i: t[count + i * size : count + (i + 1) * size],
                    outputs,
                )
                for i in range(len(views))
            ],
        )
        return clean_outputs

    def _views(self, x, given, training):
        """`(rows, views)`: the rows perturbed (None: all) and their copies.

        The copies are `given` (one), or `num_views` drawn. The views share
        this step's seed and take its draws in turn (after the draw of the
        rows, with `perturb_fraction` < 1), so the first view of a
        whole-batch model is the copy a one-view model draws.
        """
        if given is not None and self.num_views != 1:
            raise ValueError(
                "A batch from `with_perturbed_copy` holds one perturbed "
                "copy; `num_views` > 1 needs the model to draw its views. "
                f"Received: num_views={self.num_views}"
            )
        seed = self._step_seed(training)
        rows = None
        if self.perturb_fraction < 1:
            rows = random_rows(keras.tree.flatten(x)[0], self.perturb_fraction, seed)
            x, given = keras.tree.map_structure(
                lambda t: None if t is None else ops.take(t, rows, axis=0),
                (x, given),
            )
        if given is not None:
            return rows, [given]
        if not needs_objective(self.perturbation):
            return rows, [self._perturb(x, seed) for _ in range(self.num_views)]
        with attack_objective(self._attack_objective(x)):
            return rows, [self._perturb(x, seed) for _ in range(self.num_views)]

    def _attack_objective(self, x):
        """What `Adversarial` increases: the term between f(x) and f(x').

        Both in inference mode (TRADES attacks in evaluation mode), so that
        rows do not interact and no batch statistic moves; f(x) is fixed.
        """
        clean = keras.tree.map_structure(ops.stop_gradient, self(x, training=False))
        aliases = output_aliases(self)

        def objective(images):
            term, _ = stability_term(
                self._stability_loss_fn,
                aliases,
                self.stability_outputs,
                clean,
                [self(images, training=False)],
                None,
                None,
                from_logits=self._reads_logits,
            )
            return term

        return objective

    @classmethod
    def from_model(cls, model, inputs=None, **kwargs):
        """Wraps an existing model, sharing its layers and weights.

        Functional and `Sequential` models (including `keras.applications`)
        are rebuilt on their own inputs and outputs, so output names are
        kept. Any other model (a subclassed one) becomes a single layer
        called on `inputs`.

        Args:
            model: a `keras.Model`.
            inputs: `keras.Input` tensor(s) to call a subclassed model on.
                Defaults to `None` (the model's own inputs).
            **kwargs: the arguments of `StabilityModel` (perturbation,
                stability_loss, alpha, ...).

        Returns:
            A `StabilityModel` whose weights are `model`'s weights.

        Example:

        >>> import keras
        >>> from keras_stability import StabilityModel
        >>> base = keras.Sequential([
        ...     keras.Input((8, 8, 1)),
        ...     keras.layers.Flatten(),
        ...     keras.layers.Dense(3, activation="softmax")])
        >>> model = StabilityModel.from_model(base, alpha=0.5, seed=0)
        >>> pairs = zip(model.trainable_weights, base.trainable_weights)
        >>> all(a is b for a, b in pairs)
        True
        >>> model.alpha
        0.5
        """
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"`model` must be a keras.Model. Received: model={model!r}"
            )
        if inputs is not None:
            return cls(inputs, model(inputs), **kwargs)
        model_inputs, model_outputs = symbolic_io(model)
        if model_inputs is None:
            raise ValueError(
                f"`model` ({model.name}) has no symbolic inputs, as a subclassed "
                "model has none: pass `inputs=keras.Input(shape=...)` to "
                "StabilityModel.from_model."
            )
        return cls(model_inputs, model_outputs, **kwargs)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The compiled loss plus `alpha` times the stability term."""
        x, x_perturbed, labeled = split_batch(x)
        joint, self._joint_outputs = getattr(self, "_joint_outputs", None), None
        if training and joint is not None and same_tensors(joint[0], y_pred):
            rows, y_views = joint[1:]
        else:
            # `y_pred` was not made by this model's training `call` (evaluate,
            # or a custom loop): f(x') from a pass of its own per view.
            y_views = []
            self._separate_pass = True
            try:
                rows, views = self._views(x, x_perturbed, training)
                for view in views:
                    view = keras.tree.map_structure(
                        lambda t: ops.stop_gradient(ops.convert_to_tensor(t)), view
                    )
                    y_views.append(self(view, training=training))
            finally:
                self._separate_pass = False
        term, share = stability_term(
            self._stability_loss_fn,
            output_aliases(self),
            self.stability_outputs,
            y_pred,
            y_views,
            rows,
            sample_weight,
            from_logits=self._reads_logits,
            stop_gradient_clean=self.stop_gradient_clean,
            confidence_threshold=self.confidence_threshold,
            sharpen_temperature=self.sharpen_temperature,
        )
        if share is not None:
            self.confidence_mask_tracker.update_state(share)
        # After the views, which count this step: annealing reads the count.
        if self._compile_loss is None and not self.losses:
            task_loss = ops.zeros((), dtype="float32")
        else:
            task_loss = super().compute_loss(
                x=x,
                y=y,
                y_pred=y_pred,
                sample_weight=self._task_weight(
                    y, y_pred, sample_weight, labeled, training
                ),
                training=training,
            )
        batch_size = ops.shape(keras.tree.flatten(x)[0])[0]
        self.stability_loss_tracker.update_state(
            unscale_for_replicas(term), sample_weight=batch_size
        )
        return ops.add(
            ops.cast(task_loss, term.dtype),
            ops.multiply(ops.cast(self.alpha, term.dtype), term),
        )

    def _task_weight(self, y, y_pred, sample_weight, labeled, training):
        """The compiled loss's sample weight; see `_terms.task_weight`.

        Annealing (in training only) reads the steps taken, this one
        included, from `perturbation_seed`.
        """
        annealing = None
        if self.signal_annealing is not None and training:
            step = ops.cast(self.perturbation_seed.value[1], "float32")
            progress = step / self.annealing_steps
            annealing = (self.signal_annealing, progress, self._reads_logits)
        weight, kept = task_weight(y, y_pred, sample_weight, labeled, annealing)
        if kept is not None:
            self.signal_annealing_tracker.update_state(kept)
        return weight

    def _step_seed(self, training):
        """The seed of this step's perturbation; advances the step in training.

        Each `tf.distribute` replica adds its index to the seed, so replicas
        draw different perturbations for their slices of the batch.
        """
        pair = self.perturbation_seed.value * 1
        if training:
            self.perturbation_seed.assign(
                ops.add(pair, ops.convert_to_tensor([0, 1], pair.dtype))
            )
            step = pair[1:]
        else:
            step = ops.convert_to_tensor([_EVALUATION_STEP], pair.dtype)
        seed = pair[:1] + ops.cast(replica_id(), pair.dtype)
        return StepSeed(ops.concatenate([seed, step]))

    def _perturb(self, x, seed):
        return apply_perturbation(self.perturbation, x, seed)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, after `check_inputs` on `x` and the validation data."""
        check_inputs(self.perturbation, x, "x")
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and validation:
            validation = validation[0]
        check_inputs(self.perturbation, validation, "validation_data")
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`, after `check_inputs` on `x`."""
        check_inputs(self.perturbation, x, "x")
        return super().evaluate(x, y, *args, **kwargs)

    def get_config(self):
        # Our __init__ is not Functional's, so Functional.get_config would
        # refuse; a plain functional view of the same graph gives the config.
        config = keras.Model(self.input, self.output, name=self.name).get_config()
        config.update({key: getattr(self, key) for key in _STABILITY_ARGS})
        for key in ("perturbation", "stability_loss"):
            config[key] = keras.saving.serialize_keras_object(config[key])
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        kwargs = {k: config.pop(k) for k in _STABILITY_ARGS if k in config}
        for key in ("perturbation", "stability_loss"):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = keras.saving.deserialize_keras_object(
                    kwargs[key], custom_objects=custom_objects
                )
        # A list of one input: how files saved before 0.2 stored every
        # single-input model, which took its input bare (as it does now).
        listed_once = len(config.get("input_layers", ())) == 1
        graph = keras.Model.from_config(config, custom_objects=custom_objects)
        inputs = graph.input
        if listed_once and isinstance(inputs, list):
            inputs = inputs[0]
        return cls(inputs, graph.output, name=graph.name, **kwargs)
