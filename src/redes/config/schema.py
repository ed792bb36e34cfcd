"""The run config's schema: its sections (data, model, loss, optimizer, regularization, train, log) as typed
pydantic models, each field with its default and a one-line description; `redes.config` reads and checks files."""

from __future__ import annotations

import warnings
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from redes.data.sources import COMMON_KEYS, SOURCES
from redes.errors import RedesWarning, did_you_mean
from redes.nn.activations import ACTIVATIONS
from redes.nn.losses import LOSSES
from redes.nn.optimizers import OPTIMIZERS

SIZE = 2**31 - 1  # the largest count or width a key takes: torch's int32 index limit (memory is checked later)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(_Section):
    name: Literal[tuple(SOURCES)] = Field(
        "digits", description="data source (`redes datasets` describes each): " + ", ".join(SOURCES))
    path: Optional[str] = Field(None, description="file: the .npz/.csv to read; cifar10/cifar100: its archive or "
                                "folder; "
                                "mnist/fashion_mnist: the folder of its four .gz files")
    target: Union[int, str, None] = Field(None, description="csv: target column, by name or index (default: last)")
    root: Optional[str] = Field(None, description="cifar10/cifar100/mnist/fashion_mnist: folder to look in and "
                                                  "download to "
                                                  "(default: $REDES_DATA or ~/.cache/redes)")
    download: bool = Field(True, description="cifar10/cifar100/mnist/fashion_mnist: download the official files "
                                             "when not found")
    labels: Literal["fine", "coarse"] = Field("fine", description="cifar100: the 100 fine classes or the 20 coarse "
                                              "superclasses")
    n_samples: Optional[int] = Field(None, gt=0, le=SIZE, description="bernoulli/linear/tokens: number of samples "
                                                             "(default 5000 / 100 / 2000)")
    n_features: int = Field(300, gt=0, le=SIZE, description="bernoulli: number of 0/1 features")
    intercept: float = Field(1.0, description="linear: a in y = a + b*x + noise")
    slope: float = Field(2.0, description="linear: b in y = a + b*x + noise")
    noise: float = Field(0.1, ge=0, description="linear: standard deviation of the Gaussian noise")
    vocab: int = Field(50, ge=8, le=SIZE, description="tokens: vocabulary size (token ids 0..vocab-1)")
    seq_len: int = Field(12, ge=2, le=SIZE, description="tokens: tokens per sequence")
    val_fraction: float = Field(0.15, ge=0, lt=1, description="share of the data held out for validation")
    test_fraction: float = Field(0.15, ge=0, lt=1,
                                 description="share held out for test (ignored where the source has a test set)")
    scale: Literal["auto", "standard", "none"] = Field(
        "auto", description="input scaling: auto (the source's own: digits /16, cifar10 to [-1, 1]), "
                            "standard (train mean/std) or none")
    task: Literal["auto", "classification", "binary", "regression"] = Field(
        "auto", description="file: what the target is (auto: integer labels are classes, else regression)")
    max_samples: Optional[int] = Field(None, gt=0, le=SIZE, description="use at most this many training samples")

    @field_validator("name", mode="before")
    @classmethod
    def _known_source(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in SOURCES:
            raise ValueError(f"data.name: expected one of {', '.join(map(repr, SOURCES))}, got {value!r}"
                             + did_you_mean(value, SOURCES))
        return value

    @model_validator(mode="after")
    def _keys_the_source_reads(self) -> "DataConfig":
        """A key set away from its default that the chosen source never reads is an error, not a silent no-op."""
        source = SOURCES[self.name]
        for key, field in type(self).model_fields.items():
            if key not in COMMON_KEYS and key not in source.keys and getattr(self, key) != field.default:
                reads = ", ".join(f"data.{k}" for k in source.keys) or "no key of its own"
                raise ValueError(f"data.{key} is not read by data.name={self.name} (it reads {reads}); remove "
                                 f"data.{key}, or set data.name to the source it is for")
        return self

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> "DataConfig":
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("data.val_fraction + data.test_fraction must be below 1")
        return self


class EmbeddingConfig(_Section):
    vocab: int = Field(..., gt=0, le=SIZE, description="number of distinct token ids (inputs are ids 0..vocab-1)")
    dim: int = Field(..., gt=0, le=SIZE, description="width of each token's embedding vector")
    pooling: Literal["mean", "sum"] = Field("mean", description="how a sequence's vectors become one: mean or sum")


class ModelConfig(_Section):
    embedding: Optional[EmbeddingConfig] = Field(
        None, description="token inputs: {vocab: V, dim: D} puts an nn.Embedding, pooled over the sequence, "
                          "before the MLP (inputs are integer ids)")
    hidden: list[int] = Field([128, 64], description="widths of the hidden layers, input to output")
    activation: Union[str, list[str]] = Field(
        "relu", description="one activation for all hidden layers, or one per layer: "
                            + "; ".join(f"{name} ({kind.help})" for name, kind in ACTIVATIONS.items()))
    dropout: Union[float, list[float]] = Field(0.0, description="dropout probability after each hidden layer "
                                                                "(or one per layer)")
    batchnorm: bool = Field(False, description="BatchNorm1d after each hidden linear layer")
    init: Literal["torch", "glorot", "sklearn"] = Field(
        "torch", description="initial weights: torch (nn.Linear's), glorot (uniform within sqrt(6/(fan_in+fan_out)), "
                             "zero biases: Keras's default) or sklearn (MLPClassifier's: weights and biases uniform "
                             "within sqrt(6/(fan_in+fan_out)), 2 instead of 6 with sigmoid)")
    init_scale: Optional[float] = Field(None, gt=0, description="weights ~ N(0, 1) * init_scale and zero biases "
                                                                "(notebook 000), instead of model.init")

    @model_validator(mode="after")
    def _per_layer_lists_match(self) -> "ModelConfig":
        if any(not 0 < width <= SIZE for width in self.hidden):
            raise ValueError(f"model.hidden: widths must be from 1 to {SIZE}, got {self.hidden}")
        for name in _as_list(self.activation):
            if name not in ACTIVATIONS:
                raise ValueError(f"model.activation: unknown activation {name!r}{did_you_mean(name, ACTIVATIONS)}; "
                                 f"the activations are {', '.join(ACTIVATIONS)}")
        if self.init_scale is not None and self.init != "torch":
            raise ValueError(f"model.init={self.init} and model.init_scale both set the initial weights; keep one")
        if any(not 0 <= p < 1 for p in _as_list(self.dropout)):
            raise ValueError(f"model.dropout: probabilities must be in [0, 1), got {self.dropout}")
        for key in ("activation", "dropout"):
            value = getattr(self, key)
            if isinstance(value, list) and len(value) != len(self.hidden):
                raise ValueError(f"model.{key}: {len(value)} values for {len(self.hidden)} hidden layers")
        return self


class LossConfig(_Section):
    name: Literal[("auto", *LOSSES)] = Field(
        "auto", description="auto picks from the task: " + ", ".join(f"{name} ({kind.task}: {kind.help})"
                                                                     for name, kind in LOSSES.items()))


class OptimizerConfig(_Section):
    name: Literal[tuple(OPTIMIZERS)] = Field(
        "adam", description="; ".join(f"{name}: {kind.help}" for name, kind in OPTIMIZERS.items()))
    lr: float = Field(1e-3, gt=0, description="learning rate")
    momentum: float = Field(0.0, ge=0, description="sgd: momentum")
    nesterov: bool = Field(False, description="sgd: Nesterov momentum (needs momentum > 0)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam/adamw: coefficients of the running averages")
    weight_decay: float = Field(0.0, ge=0, description="the optimizer's own L2 (decoupled for adamw)")

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "OptimizerConfig":
        if any(not 0 <= beta < 1 for beta in self.betas):
            raise ValueError(f"optimizer.betas: each must be in [0, 1), got {list(self.betas)}")
        if self.nesterov and (self.name != "sgd" or self.momentum <= 0):
            raise ValueError("optimizer.nesterov needs optimizer.name=sgd and optimizer.momentum > 0")
        return self


class RegularizationConfig(_Section):
    l1: float = Field(0.0, ge=0, description="lambda of the L1 penalty on weight matrices (not biases)")
    l2: float = Field(0.0, ge=0, description="lambda of the L2 penalty (sum of squares) on weight matrices; "
                                             "l1 and l2 together are the elastic net")


class TrainConfig(_Section):
    epochs: int = Field(30, gt=0, le=SIZE, description="passes over the training data")
    batch_size: int = Field(32, gt=0, le=SIZE, description="samples per step")
    sampler: Literal["shuffle", "replacement", "contiguous", "repeat"] = Field(
        "shuffle", description="batch order: shuffle (a permutation per epoch), replacement (notebook 000's "
                               "random picker), contiguous (in data order) or repeat (one random sample copied "
                               "into the whole batch: notebook 000's commented-out line)")
    engine: Literal["module", "autograd", "manual"] = Field(
        "module", description="how gradients are computed: module (nn.Module + torch.optim), autograd "
                              "(loss.backward() + a hand-written update) or manual (backpropagation by hand)")
    backend: Literal["torch", "numpy"] = Field("torch", description="manual engine: the arrays it computes on "
                                                                    "(numpy runs on the CPU)")
    backward: Literal["reuse", "recompute"] = Field(
        "reuse", description="manual engine: reuse forward values in the backward pass (h(1-h), 1-h^2), or "
                             "recompute them (sigmoid(u), tanh(u))")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point precision of the "
                                                                        "model and the data")
    precision: Literal["fp32", "tf32", "bf16"] = Field(
        "fp32", description="tf32: float32 with the step's matrix products on TF32 tensor cores (CUDA); bf16: "
                            "forward and backward under bfloat16 autocast (both: module/autograd engines, float32)")
    fast: bool = Field(True, description="fused optimizer steps where torch has them, the manual engine's "
                                         "SGD weight gradients added straight into its momentum buffer, freed "
                                         "host memory kept for the next step (false: the plain loops, for "
                                         "comparison)")
    cuda_graph: Union[Literal["auto"], bool] = Field(
        "auto", description="replay the training steps as CUDA graphs, 16 steps a launch, each gathering its "
                            "batch on the GPU (module engine on CUDA): auto (on there), true or false")
    compile: bool = Field(False, description="torch.compile the training step's forward (and with it the backward): "
                                             "fewer, fused kernels where launches or memory passes dominate (GPU); "
                                             "off by default, as it did not help on the CPU (docs/benchmarks.md); "
                                             "module/autograd engines")
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d{1,4})?)$",
                        description="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    seed: int = Field(0, ge=0, lt=2**32,
                      description="seeds the split, the initial weights, dropout and the batch order")
    eval_batch_size: int = Field(4096, gt=0, le=SIZE, description="samples per forward pass when evaluating")
    checkpoint_every: int = Field(1, ge=0, le=SIZE, description="write checkpoint.safetensors every N epochs "
                                                       "(0: never), so `redes resume` can continue the run; "
                                                       "paced to at most 5% of the time, at least every 30 s")
    threads: int = Field(0, ge=0, le=4096, description="torch's CPU threads while training (0: auto: one where a "
                         "step's work is small, since threads wait for each other at every operation, else torch's "
                         "default)")
    divergence_factor: float = Field(1000.0, ge=0, description="stop, keeping the last good weights, when an "
                                     "epoch's training loss exceeds this many times the loss of a constant "
                                     "prediction (the targets' own spread); 0: stop only on NaN or inf")

    @field_validator("backward", mode="before")
    @classmethod
    def _backward_by_its_old_name(cls, value: Any) -> Any:
        renamed = {"fast": "reuse", "naive": "recompute"}
        if isinstance(value, str) and value in renamed:
            warnings.warn(f"train.backward={value} is now called train.backward={renamed[value]}; the old name "
                          "will stop working in a later release", RedesWarning, stacklevel=2)
            return renamed[value]
        return value

    @model_validator(mode="after")
    def _options_fit_the_engine(self) -> "TrainConfig":
        if self.engine != "manual" and (self.backend != "torch" or self.backward != "reuse"):
            key = "backend=numpy" if self.backend != "torch" else "backward=recompute"
            raise ValueError(f"train.{key} needs train.engine=manual (got train.engine={self.engine})")
        if self.precision != "fp32" and (self.engine == "manual" or self.dtype != "float32"):
            raise ValueError(f"train.precision={self.precision} needs train.engine=module or autograd and "
                             f"train.dtype=float32 (got train.engine={self.engine}, train.dtype={self.dtype})")
        if self.compile and self.engine == "manual":
            raise ValueError("train.compile needs train.engine=module or autograd (the manual engine's backward "
                             "is written by hand, not traced)")
        return self


class LogConfig(_Section):
    plots: bool = Field(True, description="draw RUN_DIR/plots when training ends (false: `redes plot RUN_DIR` draws "
                                          "them when wanted; sweeps and searches leave their points' undrawn)")
    tensorboard: bool = Field(False, description="also write TensorBoard scalars and weight/gradient histograms "
                                                 "to RUN_DIR/tensorboard (needs redes[tensorboard])")


class Config(_Section):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    regularization: RegularizationConfig = Field(default_factory=RegularizationConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @model_validator(mode="after")
    def _embedding_needs_module_engine(self) -> "Config":
        if self.model.embedding is not None and self.train.engine != "module":
            raise ValueError(f"model.embedding needs train.engine=module (got train.engine={self.train.engine}): "
                             "the autograd and manual engines only know Linear layers")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, numbers, strings), as written to config.yaml."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
