"""``axonal train speech``: spoken digits from real audio with a recurrent adaptive-LIF network.

Pipeline (every piece is axonal's own; nothing here is fitted to the test takes):

1. audio: the Free Spoken Digit Dataset (:mod:`axonal.data.fsdd`, 8 kHz; other rates are
   resampled with :func:`axonal.audio.resample`);
2. features: a 40-band log-mel spectrogram (:class:`axonal.audio.MelSpectrogram`, 32 ms Hann
   window, 10 ms hop, 20-4000 Hz), normalised per utterance and channel
   (:func:`axonal.audio.normalize_features`); one frame is one network step (``dt`` = 10 ms);
3. input coding (``input``): ``"current"`` injects the normalised features as input current
   into the first synapses (as the first layer of snnTorch's and SpikingJelly's speech
   examples does); ``"delta"`` turns them into ON/OFF send-on-delta spikes
   (:func:`axonal.audio.send_on_delta`, one event per threshold crossed, at most
   ``max_events`` per step) so that the network is event-driven from its first synapse;
4. network: ``DelayedLinear(in -> hidden)`` (learnable per-synapse delays of up to
   ``max_delay`` steps, DCLS-style, annealed Gaussian; ``delays="fixed"``: the same random
   whole-step delays, not trained; ``"off"``: a plain ``Linear``) -> ``Recurrent(ALIF, Linear)``
   (recurrent adaptive-LIF layer run by the fused recurrent kernel) -> dropout ->
   ``Linear(hidden -> 10)`` -> ``LI`` readout;
5. decision: the class whose readout membrane, averaged over the utterance's frames, is
   largest; loss: cross-entropy on that average (padding frames are masked out);
6. training: :func:`axonal.train.fit` (BPTT, Adam, cosine schedule) with a random shift of
   the mel axis and SpecAugment-style time and frequency masks drawn from the loop's seeded
   generator (the defaults were chosen on the validation takes 5-9, never on the test takes); learnable delays are
   clamped and their Gaussian narrowed before every batch and rounded to whole steps at the
   end, so the reported accuracy is that of the integer-delay network (whole-step delays are
   what inference uses and what a NIR ``Delay`` node holds; the ALIF layer itself has no NIR
   node, so the model as a whole does not export to NIR).

Splits (:mod:`axonal.data.fsdd`): ``official`` (takes 0-4 test, 5-49 train), ``loso`` (leave
one speaker out; every speaker or one), ``validation`` (train on takes 10-49, test on 5-9:
what the hyperparameters were chosen on).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Literal, NamedTuple

import torch
from torch import Tensor, nn

from axonal.audio import MelSpectrogram, normalize_features, resample, send_on_delta
from axonal.data.fsdd import (
    FsddData,
    default_fsdd_root,
    load_fsdd,
    loso_folds,
    official_split,
    validation_split,
)
from axonal.energy import LayerCount, OpCounts, count_ops
from axonal.errors import FileFormatError
from axonal.functional.surrogate import FastSigmoid
from axonal.functional.validate import check_int, check_positive
from axonal.nn import ALIF, LI, DelayedLinear, Sequential, SequentialResult
from axonal.nn.stateful import Recurrent
from axonal.train.checkpoint import load_checkpoint, restore, save_checkpoint
from axonal.train.loop import EpochLog, TrainConfig, evaluate, fit, seed_everything
from axonal.train.threads import recipe_threads, thread_independent_blas

__all__ = [
    "DT",
    "SAMPLE_RATE",
    "SpeechConfig",
    "SpeechFeatures",
    "SpeechReport",
    "FoldResult",
    "build_model",
    "load_features",
    "load_speech_model",
    "run_speech",
]

SAMPLE_RATE = 8000
"""Sample rate the front end runs at (Hz); recordings at other rates are resampled."""
DT = 10e-3
"""Network time step (s): one 10 ms hop of the spectrogram."""
N_FFT = 256
HOP = 80
F_MIN, F_MAX = 20.0, 4000.0
CLASSES = tuple(str(d) for d in range(10))

Split = Literal["official", "loso", "validation"]
Delays = Literal["learn", "fixed", "off"]
InputCoding = Literal["current", "delta"]


@dataclass(frozen=True)
class SpeechConfig:
    """Settings of the speech recipe (defaults: the official-split recipe of the README).

    Units: ``dt`` is fixed at 10 ms (:data:`DT`); ``tau_*`` in seconds; ``max_delay`` in steps.

    Args:
        split: ``"official"``, ``"loso"`` or ``"validation"`` (see the module docstring).
        speaker: with ``split="loso"``, the one speaker to hold out (``None``: every fold).
        delays: ``"learn"`` (trained delays), ``"fixed"`` (random whole-step delays, not
            trained) or ``"off"`` (no delays).
        input: ``"current"`` or ``"delta"`` (see the module docstring).
        delta_threshold: send-on-delta threshold in units of the normalised features.
        max_events: most send-on-delta events per channel and step (1: the input is binary
            spikes, which the energy count prices as synaptic events; more: counts, which it
            prices as dense MACs).
        max_delay: longest delay in steps of 10 ms.
        sigma_final: width (steps) the learnable delays' Gaussian is narrowed to, linearly from
            ``max_delay / 2`` over the first 80% of training; narrower makes rounding the
            delays at the end change less.
        n_mels: mel bands.
        hidden: recurrent ALIF neurons per layer.
        layers: recurrent ALIF layers, each fed by its own delayed synapses.
        epochs, batch_size, lr, weight_decay: Adam/BPTT settings (:class:`TrainConfig`).
        dropout: on the hidden spikes, training only.
        freq_mask, time_mask: widest SpecAugment mask (bands, frames); 0 turns it off.
        freq_shift: largest random shift of the mel axis (bands, fractional; 0: off), a
            vocal-tract-length perturbation that makes the network less speaker-specific.
        tau_mem, tau_adapt, delta_th: the ALIF neurons' membrane and adaptation time
            constants (s) and threshold increment per spike (mV; threshold 1 mV).
        seed: seeds weights, shuffling and augmentation.
    """

    split: Split = "official"
    speaker: str | None = None
    delays: Delays = "learn"
    input: InputCoding = "current"
    delta_threshold: float = 0.5
    max_events: int = 1
    max_delay: int = 10
    sigma_final: float = 0.25
    n_mels: int = 40
    hidden: int = 512
    layers: int = 1
    epochs: int = 40
    batch_size: int = 32
    lr: float = 4e-3
    weight_decay: float = 0.0
    dropout: float = 0.3
    freq_mask: int = 6
    time_mask: int = 10
    freq_shift: float = 1.5
    tau_mem: float = 20e-3
    tau_adapt: float = 200e-3
    delta_th: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.split not in ("official", "loso", "validation"):
            raise ValueError(f"split must be 'official', 'loso' or 'validation', got {self.split!r}")
        if self.speaker is not None and (self.split != "loso" or not isinstance(self.speaker, str)):
            raise ValueError(f"speaker names the held-out speaker of split='loso', got {self.speaker!r} "
                             f"with split={self.split!r}")
        if self.delays not in ("learn", "fixed", "off"):
            raise ValueError(f"delays must be 'learn', 'fixed' or 'off', got {self.delays!r}")
        if self.input not in ("current", "delta"):
            raise ValueError(f"input must be 'current' or 'delta', got {self.input!r}")
        for name, low, high in (("max_delay", 0, 100), ("n_mels", 4, 128), ("hidden", 1, 8192), ("layers", 1, 8),
                                ("epochs", 1, 10_000), ("batch_size", 1, 4096), ("max_events", 1, 100),
                                ("freq_mask", 0, 128), ("time_mask", 0, 1000), ("seed", 0, 2**32 - 1)):
            if check_int(name, getattr(self, name), minimum=low) > high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {getattr(self, name)}")
        if self.delays != "off" and self.max_delay < 1:
            raise ValueError(f"delays={self.delays!r} needs max_delay >= 1 step, got {self.max_delay}")
        for name in ("lr", "tau_mem", "tau_adapt", "delta_threshold", "sigma_final"):
            check_positive(name, getattr(self, name), unit="")
        for name in ("weight_decay", "delta_th", "freq_shift"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, float) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1), got {self.dropout!r}")

    @property
    def in_features(self) -> int:
        """Input channels of the network: the mel bands, twice for ON/OFF delta spikes."""
        return 2 * self.n_mels if self.input == "delta" else self.n_mels

    def train_config(self, progress: bool) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           weight_decay=self.weight_decay, seed=self.seed, progress=progress)


class SpeechFeatures(NamedTuple):
    """Normalised log-mel features of a dataset, padded to one length.

    Attributes:
        x: ``[N, T_max, n_mels + 1]``: the features, then a last channel that is 1 on the
            utterance's frames and 0 on padding (the batches carry their own mask through
            :func:`axonal.train.fit`, which hands the encoder inputs only).
        lengths: frames per utterance ``[N]``.
        data: the recordings (labels, speakers, takes).
    """

    x: Tensor
    lengths: Tensor
    data: FsddData


def load_features(root: str | Path | None, n_mels: int = 40) -> SpeechFeatures:
    """Read the FSDD recordings under ``root`` (``None``: :func:`default_fsdd_root`) and compute
    their normalised log-mel features (see the module docstring)."""
    if root is None:
        found = default_fsdd_root()
        if found is None:
            raise FileNotFoundError(
                "no FSDD copy found ($AXONAL_DATA/fsdd or ../shared/data/fsdd); pass --data PATH "
                "or fetch it with axonal.data.fsdd.download_fsdd(PATH)"
            )
        root = found
    data = load_fsdd(root)
    mel = MelSpectrogram(SAMPLE_RATE, n_fft=N_FFT, hop=HOP, n_mels=n_mels, f_min=F_MIN, f_max=F_MAX)
    feats = []
    with torch.no_grad():
        for wave in data.waveforms:
            if data.sample_rate != SAMPLE_RATE:
                wave = resample(wave, data.sample_rate, SAMPLE_RATE)
            feats.append(mel(wave)[:, 0])  # [T_i, n_mels]
    lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.int64)
    x = torch.zeros(len(feats), int(lengths.max()), n_mels + 1)
    for i, f in enumerate(feats):
        x[i, : f.shape[0], :n_mels] = normalize_features(f.unsqueeze(1), [f.shape[0]])[:, 0]
        x[i, : f.shape[0], n_mels] = 1.0
    return SpeechFeatures(x, lengths, data)


class _Coding:
    """Encoder, objective and predictor of :func:`fit` for padded utterances.

    ``encode`` crops a batch ``[B, T_max, C + 1]`` to its longest utterance, applies the masks
    of SpecAugment while the model trains, codes the input and keeps the batch's frame mask
    ``[T, B]``, which ``loss`` and ``predict`` (called on the same batch right after) use to
    average the readout over each utterance's own frames."""

    def __init__(self, model: nn.Module, config: SpeechConfig) -> None:
        self.model = model
        self.config = config
        self.mask = torch.ones(1, 1)

    def encode(self, x: Tensor, gen: torch.Generator) -> Tensor:
        valid = x[..., -1]  # [B, T_max]
        steps = int(valid.sum(dim=1).max())
        feats = x[:, :steps, :-1].transpose(0, 1).contiguous()  # [T, B, C]
        self.mask = valid[:, :steps].transpose(0, 1).contiguous()  # [T, B]
        if self.model.training:
            feats = self._augment(feats, gen)
        if self.config.input == "delta":
            spikes = send_on_delta(feats, self.config.delta_threshold, x0=0.0,
                                   max_count=self.config.max_events)  # [T, B, 2, C]
            return spikes.flatten(2) * self.mask.unsqueeze(-1)
        return feats

    def _augment(self, feats: Tensor, gen: torch.Generator) -> Tensor:
        """Per utterance: a random shift of the mel axis by up to ``freq_shift`` bands, then
        SpecAugment's masks (Park et al. 2019): one band of up to ``freq_mask`` channels and one
        span of up to ``time_mask`` frames (at most a quarter of the utterance) set to zero,
        the mean of the normalised features."""
        steps, batch, channels = feats.shape
        cfg = self.config
        out = feats.clone()
        if cfg.freq_shift:
            # read band c at c + shift (linear interpolation, edges held): a warp of the mel
            # axis, as a longer or shorter vocal tract moves the formants
            shift = (torch.rand(batch, generator=gen) * 2.0 - 1.0) * cfg.freq_shift  # [B]
            pos = (torch.arange(channels, dtype=feats.dtype)[None, :] + shift[:, None]).clamp(0, channels - 1)
            low = pos.floor().long().clamp(max=channels - 2)
            frac = (pos - low).to(feats.dtype)  # [B, C]
            gather_low = torch.gather(out, 2, low.unsqueeze(0).expand(steps, -1, -1))
            gather_high = torch.gather(out, 2, (low + 1).unsqueeze(0).expand(steps, -1, -1))
            out = gather_low * (1 - frac) + gather_high * frac
        if cfg.freq_mask:
            width = torch.randint(0, cfg.freq_mask + 1, (batch,), generator=gen)
            start = (torch.rand(batch, generator=gen) * (channels - width + 1)).long()
            band = torch.arange(channels)
            keep = (band < start[:, None]) | (band >= (start + width)[:, None])  # [B, C]
            out = out * keep.unsqueeze(0)
        if cfg.time_mask:
            lengths = self.mask.sum(dim=0).long()
            width = torch.minimum(torch.randint(0, cfg.time_mask + 1, (batch,), generator=gen), lengths // 4)
            start = (torch.rand(batch, generator=gen) * (lengths - width + 1)).long()
            frame = torch.arange(steps)[:, None]
            keep = (frame < start) | (frame >= start + width)  # [T, B]
            out = out * keep.unsqueeze(-1)
        return out

    def logits(self, result: SequentialResult) -> Tensor:
        """The readout membrane averaged over each utterance's frames ``[B, 10]``."""
        v = result.out  # [T, B, 10]
        mask = self.mask.to(v.dtype)
        return (v * mask.unsqueeze(-1)).sum(dim=0) / mask.sum(dim=0).unsqueeze(-1)

    def loss(self, result: SequentialResult, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(self.logits(result), target)

    def predict(self, result: SequentialResult) -> Tensor:
        return self.logits(result).argmax(dim=1)


def build_model(config: SpeechConfig) -> Sequential:
    """The network of the module docstring for ``config`` (weights from torch's generator)."""
    n_in, hidden = config.in_features, config.hidden
    stack: list[nn.Module] = []
    for layer in range(config.layers):
        size_in = n_in if layer == 0 else hidden
        synapses: nn.Module
        if config.delays == "off":
            synapses = nn.Linear(size_in, hidden)
        else:
            synapses = DelayedLinear(size_in, hidden, config.max_delay, DT, mode="synapse", delay_init="uniform")
            if config.delays == "fixed":
                synapses.freeze()
        neuron = ALIF(tau_mem=config.tau_mem, tau_adapt=config.tau_adapt, delta_th=config.delta_th,
                      dt=DT, surrogate=FastSigmoid(10.0), shape=(hidden,), learn=("tau_mem",))
        rec = nn.Linear(hidden, hidden, bias=False)
        nn.init.orthogonal_(rec.weight, gain=0.5)
        stack += [synapses, Recurrent(neuron, rec), nn.Dropout(config.dropout)]
    return Sequential(
        *stack,
        nn.Linear(hidden, len(CLASSES)),
        LI(tau_mem=20e-3, r=1.0, dt=DT),
    )


def _delay_schedule(model: Sequential, config: SpeechConfig) -> Callable[[float], None] | None:
    """``before_batch`` of :func:`fit` for learnable delays: clamp them to ``[0, max_delay]``
    and narrow the Gaussian linearly from ``max_delay / 2`` to ``sigma_final`` steps over the
    first 80% of training (DCLS's annealing), so that rounding at the end changes little."""
    layers = [m for m in model.modules() if isinstance(m, DelayedLinear) and not m.frozen]
    if not layers:
        return None
    start, end = max(config.max_delay / 2.0, config.sigma_final), config.sigma_final

    def schedule(progress: float) -> None:
        sigma = start + (end - start) * min(1.0, progress / 0.8)
        for layer in layers:
            layer.clamp_()
            layer.sigma = sigma

    return schedule


class FoldResult(NamedTuple):
    """One trained model's test figures."""

    name: str  # "official", "validation" or the held-out speaker
    accuracy: float
    accuracy_unrounded: float | None  # learnable delays, before rounding (None otherwise)
    per_speaker: dict[str, float]
    confusion: Tensor  # [10, 10] counts, rows true digit
    seconds: float  # training time
    history: list[EpochLog]


class SpeechReport(NamedTuple):
    """What :func:`run_speech` measured and wrote."""

    config: SpeechConfig
    folds: list[FoldResult]
    rates_hz: dict[str, float]
    energy: OpCounts
    files: list[Path]

    @property
    def mean_accuracy(self) -> float:
        return sum(f.accuracy for f in self.folds) / len(self.folds)


def _splits(config: SpeechConfig, data: FsddData) -> list[tuple[str, Tensor, Tensor]]:
    if config.split == "official":
        train, test = official_split(data)
        return [("official", train, test)]
    if config.split == "validation":
        train, val = validation_split(data)
        return [("validation", train, val)]
    folds = loso_folds(data)
    if config.speaker is not None:
        names = [f.speaker for f in folds]
        if config.speaker not in names:
            raise ValueError(f"speaker must be one of {names}, got {config.speaker!r}")
        folds = [f for f in folds if f.speaker == config.speaker]
    return [(f.speaker, f.train, f.test) for f in folds]


@torch.no_grad()
def _predictions(model: Sequential, coding: _Coding, x: Tensor, batch: int = 256) -> Tensor:
    model.eval()
    out = []
    for start in range(0, x.shape[0], batch):
        spikes = coding.encode(x[start : start + batch], torch.Generator().manual_seed(0))
        out.append(coding.predict(model.run(spikes)))
    return torch.cat(out)


def _train_fold(config: SpeechConfig, feats: SpeechFeatures, name: str, train: Tensor, test: Tensor,
                progress: bool, checkpoint: Path | None) -> tuple[Sequential, _Coding, FoldResult]:
    seed_everything(config.seed)
    model = build_model(config)
    coding = _Coding(model, config)
    labels = feats.data.labels
    start = time.perf_counter()
    history = fit(model, (feats.x[train], labels[train]), coding.encode, coding.loss, coding.predict,
                  config.train_config(progress), checkpoint=checkpoint,
                  before_batch=_delay_schedule(model, config))
    seconds = time.perf_counter() - start
    unrounded = None
    delayed = [m for m in model.modules() if isinstance(m, DelayedLinear)]
    if config.delays == "learn":
        unrounded = evaluate(model, (feats.x[test], labels[test]), coding.encode, coding.predict,
                             torch.Generator().manual_seed(0))
        for layer in delayed:
            layer.freeze()  # whole-step delays from here on: what is reported and exported
    pred = _predictions(model, coding, feats.x[test])
    truth = labels[test]
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((truth, pred), torch.ones_like(truth), accumulate=True)
    speakers = feats.data.speaker_ids[test]
    per_speaker = {}
    for sid in speakers.unique().tolist():
        sel = speakers == sid
        per_speaker[feats.data.speakers[sid]] = float((pred[sel] == truth[sel]).float().mean())
    accuracy = float((pred == truth).float().mean())
    return model, coding, FoldResult(name, accuracy, unrounded, per_speaker, confusion, seconds, history)


def layer_rates(model: Sequential, spikes_in: Tensor, mask: Tensor) -> dict[str, float]:
    """Mean firing rate (Hz) over the utterances' frames of the input (delta coding: events per
    channel and second, a step's up to ``max_events`` events each counted) and of the recurrent
    ALIF layer."""
    with torch.no_grad():
        result = model.run(spikes_in)
    frames = float(mask.sum())
    rates = {}
    if spikes_in.dim() == 3 and bool(((spikes_in >= 0) & (spikes_in == spikes_in.floor())).all()):
        rates["input"] = float(spikes_in.sum()) / (frames * spikes_in.shape[-1] * DT)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Recurrent):
            z = result.outputs[i] * mask.unsqueeze(-1)
            rates[f"{i}:alif"] = float(z.sum()) / (frames * z.shape[-1] * DT)
    return rates


def count_speech_ops(model: Sequential, coding: _Coding, x: Tensor, chunk: int = 16) -> OpCounts:
    """:func:`axonal.energy.count_ops` over the padded utterances ``x [N, T_max, C + 1]``,
    counted in chunks of ``chunk`` utterances of similar length (sorted by length, so that
    little padding is counted) and merged into one :class:`OpCounts` whose per-sample figures
    are per utterance. The ANN equivalent is the same network run once per frame (an RNN
    unrolled over the utterance): ``ann_macs_per_sample`` is its MACs per utterance."""
    lengths = x[..., -1].sum(dim=1)
    order = torch.argsort(lengths, stable=True)
    totals: dict[str, LayerCount] = {}
    input_spikes: int | None = 0
    unknown: list[str] = []
    for start in range(0, x.shape[0], chunk):
        spikes = coding.encode(x[order[start : start + chunk]], torch.Generator().manual_seed(0))
        counts = count_ops(model, spikes)
        unknown.extend(u for u in counts.unknown if u not in unknown)
        input_spikes = None if input_spikes is None or counts.input_spikes is None else input_spikes + counts.input_spikes
        for layer in counts.layers:
            have = totals.get(layer.name)
            if have is None:
                totals[layer.name] = dataclasses.replace(layer)
                continue
            for f in ("synops", "macs", "dense_macs", "pool_ops", "spikes_in", "inputs_in", "neuron_updates"):
                setattr(have, f, getattr(have, f) + getattr(layer, f))
            if have.spikes_out is not None and layer.spikes_out is not None:
                have.spikes_out += layer.spikes_out
    # steps=1, ann_steps=1: the dense MACs summed over every counted frame, per utterance
    return OpCounts(tuple(totals.values()), 1, int(x.shape[0]), input_spikes, tuple(unknown), 1)


def _figures(model: Sequential, coding: _Coding, feats: SpeechFeatures, fold: FoldResult, sample: int,
             out: Path, config: SpeechConfig) -> list[Path]:
    from axonal import plot

    files = [plot.confusion_matrix(fold.confusion, CLASSES, out / "confusion.png",
                                   title=f"FSDD {fold.name}: test confusion ({fold.accuracy * 100:.1f}%)")]
    model.eval()
    x = coding.encode(feats.x[sample : sample + 1], torch.Generator().manual_seed(0))
    with torch.no_grad():
        result = model.run(x, record=False)
    hidden = next(i for i, m in enumerate(model.layers) if isinstance(m, Recurrent))
    digit = int(feats.data.labels[sample])
    speaker = feats.data.speakers[int(feats.data.speaker_ids[sample])]
    groups: list[tuple[str, Tensor]] = []
    if config.input == "delta":
        groups.append(("input (ON/OFF delta)", x[:, 0].clamp(max=1.0)))
    groups.append(("recurrent ALIF", result.outputs[hidden][:, 0]))
    files.append(plot.raster(groups, out / "raster.png", DT,
                             title=f"spoken '{digit}' ({speaker}): spikes through the network"))
    files.append(plot.traces([("readout (10 digits)", result.out[:, 0, :], None)], out / "readout.png", DT,
                             title=f"spoken '{digit}' ({speaker}): readout membrane"))
    files.append(plot.training_curve(fold.history, out / "training.png", title=f"FSDD {fold.name}: training"))
    return files


def run_speech(config: SpeechConfig, out_dir: str | Path, data: str | Path | None = None,
               progress: bool = True, threads: int | None = None) -> SpeechReport:
    """Train and test the speech recipe on every fold of ``config.split``; write figures, the
    last fold's model and ``report.json`` to ``out_dir``.

    Args:
        data: the FSDD folder (holding ``recordings/``); ``None``: :func:`default_fsdd_root`.
        threads: torch intra-op threads (see :func:`axonal.train.threads.recipe_threads`).
    """
    with recipe_threads(threads), thread_independent_blas():
        return _run_speech(config, Path(out_dir), data, progress)


def _run_speech(config: SpeechConfig, out: Path, root: str | Path | None, progress: bool) -> SpeechReport:
    out.mkdir(parents=True, exist_ok=True)
    feats = load_features(root, config.n_mels)
    results: list[FoldResult] = []
    model: Sequential | None = None
    for name, train, test in _splits(config, feats.data):
        if progress:
            print(f"fold {name}: {train.numel()} training and {test.numel()} test recordings", flush=True)
        model, coding, fold = _train_fold(config, feats, name, train, test, progress, out / "train_state.pt")
        results.append(fold)
        if progress:
            print(f"fold {name}: test accuracy {fold.accuracy * 100:.2f}% ({fold.seconds:.0f} s)", flush=True)
        last_test = test
    assert model is not None
    sample = int(last_test[0])
    files = _figures(model, coding, feats, results[-1], sample, out, config)
    spikes = coding.encode(feats.x[last_test], torch.Generator().manual_seed(0))
    rates = layer_rates(model, spikes, coding.mask)
    energy = count_speech_ops(model, coding, feats.x[last_test])
    files.append(save_checkpoint(out / "model.pt", model, {"task": "speech", **asdict(config)},
                                 {"test_accuracy": results[-1].accuracy}))
    report = SpeechReport(config, results, rates, energy, files)
    summary = {
        "config": asdict(config),
        "mean_accuracy": report.mean_accuracy,
        "folds": [{"name": f.name, "accuracy": f.accuracy, "accuracy_unrounded": f.accuracy_unrounded,
                   "per_speaker": f.per_speaker, "seconds": f.seconds,
                   "confusion": f.confusion.tolist()} for f in results],
        "rates_hz": rates,
    }
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    files.append(out / "report.json")
    return report


def load_speech_model(path: str | Path) -> tuple[Sequential, SpeechConfig]:
    """The model and config of a checkpoint written by :func:`run_speech` (its delays frozen,
    as they were when it was written)."""
    checkpoint = load_checkpoint(path)
    if checkpoint.config.get("task") != "speech":
        raise ValueError(f"checkpoint {str(path)!r} is not a speech model (task={checkpoint.config.get('task')!r})")
    names = {f.name for f in fields(SpeechConfig)}
    try:
        config = SpeechConfig(**{k: v for k, v in checkpoint.config.items() if k in names})
    except (TypeError, ValueError) as err:
        raise FileFormatError(f"{str(path)!r}: its config is invalid: {err}") from err
    model = build_model(config)
    for layer in model.modules():
        if isinstance(layer, DelayedLinear):
            layer.freeze()
    return restore(model, checkpoint), config
