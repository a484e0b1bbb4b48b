"""The speech recipe (``axonal train speech``) end to end on a small generated FSDD folder.

The folder holds 3 speakers x 10 digits x takes 0-11 of synthetic "speech": each digit is a
tone at one frequency followed by a tone at another (a pair no other digit has), each
speaker shifts every frequency by a few percent, and a little noise covers the whole
recording. A recurrent ALIF network learns it in a few epochs, so the tests can hold the
recipe to more than chance without the real data (``../shared/data``).

One training run of the learnable-delay recipe (module fixture) serves the checks of its
files, report, checkpoint and export; the other runs reuse its features (``load_features`` is
replaced by the cached result) to stay fast.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import axonal.tasks.speech as speech
from axonal.audio import MelSpectrogram, write_wav
from axonal.cli import main
from axonal.errors import FileFormatError
from axonal.nn import DelayedLinear, Sequential
from axonal.tasks.speech import (
    SpeechConfig,
    SpeechFeatures,
    SpeechReport,
    build_model,
    load_features,
    load_speech_model,
    run_speech,
)
from axonal.train.checkpoint import load_checkpoint, save_checkpoint
from axonal.train.loop import seed_everything

RATE = 8000
SPEAKERS = ("ada", "bo", "cy")  # none of FSDD's speakers: ids come after FSDD_SPEAKERS
SHIFTS = (0.94, 1.0, 1.06)  # each speaker's pitch factor
TAKES = range(12)  # official: takes 0-4 test; validation: 5-9 of takes 5-11 held out
TONES = tuple(250.0 * (3600.0 / 250.0) ** (i / 9) for i in range(10))  # Hz, log-spaced
N_MELS = 16
TEST_TAKES = 5
FILES = {"confusion.png", "raster.png", "readout.png", "training.png", "model.pt", "report.json"}
SMALL = dict(dropout=0.2, freq_mask=0, time_mask=0, freq_shift=0.0, sigma_final=0.5)
"""No augmentation and light dropout: what a 3-epoch run of a tiny network needs to learn."""
LEARN = SpeechConfig(hidden=16, epochs=3, max_delay=3, n_mels=N_MELS, batch_size=8, lr=2e-2, seed=0, **SMALL)  # type: ignore[arg-type]
"""Learns the synthetic task to 73-91% test accuracy over seeds 0-5 (chance: 10%)."""


def _utterance(digit: int, speaker: int, gen: torch.Generator) -> torch.Tensor:
    """0.15-0.4 s: 30 ms of noise, tone ``TONES[digit]``, tone ``TONES[digit + 3]``, 30 ms of noise."""
    n = int((0.15 + 0.25 * float(torch.rand((), generator=gen))) * RATE)
    lead = int(0.03 * RATE)
    half = (n - 2 * lead) // 2
    freq = torch.zeros(n, dtype=torch.float64)
    freq[lead : lead + half] = TONES[digit] * SHIFTS[speaker]
    freq[lead + half : n - lead] = TONES[(digit + 3) % 10] * SHIFTS[speaker]
    phase = 2 * math.pi * torch.cumsum(freq, 0) / RATE
    noise = 0.01 * torch.randn(n, generator=gen, dtype=torch.float64)
    return (0.4 * (freq > 0).double() * torch.sin(phase) + noise).float()


def make_speech_folder(root: Path) -> Path:
    """An FSDD-format folder (``recordings/{digit}_{speaker}_{take}.wav``, 8 kHz mono 16-bit)."""
    rec = root / "recordings"
    rec.mkdir(parents=True)
    gen = torch.Generator().manual_seed(1234)
    for s, name in enumerate(SPEAKERS):
        for digit in range(10):
            for take in TAKES:
                write_wav(rec / f"{digit}_{name}_{take}.wav", _utterance(digit, s, gen), RATE)
    return root


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_speech_folder(tmp_path_factory.mktemp("fsdd"))


@pytest.fixture(scope="module")
def features(fsdd: Path) -> SpeechFeatures:
    return load_features(fsdd, N_MELS)


@pytest.fixture()
def cached(fsdd: Path, features: SpeechFeatures, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_speech`` reads the module's features instead of computing them again."""

    def load(root: Any, n_mels: int = 40) -> SpeechFeatures:
        assert Path(root) == fsdd and n_mels == N_MELS
        return features

    monkeypatch.setattr(speech, "load_features", load)


@pytest.fixture(scope="module")
def trained(fsdd: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[SpeechReport, Path]:
    out = tmp_path_factory.mktemp("speech")
    return run_speech(LEARN, out, fsdd, progress=False, threads=1), out


def _test_logits(model: Sequential, config: SpeechConfig, x: torch.Tensor) -> torch.Tensor:
    coding = speech._Coding(model, config)
    model.eval()
    with torch.no_grad():
        result = model.run(coding.encode(x, torch.Generator().manual_seed(0)))
    return coding.logits(result)


def test_features_are_normalised_per_utterance_with_a_frame_mask(fsdd: Path, features: SpeechFeatures) -> None:
    n = len(SPEAKERS) * 10 * len(TAKES)
    assert features.x.shape[0] == n and features.x.shape[2] == N_MELS + 1
    assert torch.equal(features.x[..., -1].sum(dim=1).long(), features.lengths)
    assert int(features.lengths.max()) == features.x.shape[1]
    mel = MelSpectrogram(RATE, n_fft=256, hop=80, n_mels=N_MELS, f_min=20.0, f_max=4000.0)
    for i in (0, 17, n - 1):
        assert mel(features.data.waveforms[i]).shape[0] == int(features.lengths[i])
        length = int(features.lengths[i])
        valid = features.x[i, :length, :N_MELS]
        torch.testing.assert_close(valid.mean(dim=0), torch.zeros(N_MELS), atol=1e-4, rtol=0)
        assert float(valid.std(dim=0, unbiased=False).min()) > 0.9  # every band varies (noise at least)
        assert not features.x[i, length:].any()  # padding is zero, mask included
    assert {features.data.speakers[int(s)] for s in features.data.speaker_ids.unique()} == set(SPEAKERS)


def test_official_run_writes_its_files_and_learns_the_task(trained: tuple[SpeechReport, Path],
                                                           features: SpeechFeatures) -> None:
    report, out = trained
    assert {p.name for p in report.files} == FILES
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "report.json").read_text())
    assert summary["config"] == asdict(LEARN)
    [fold] = summary["folds"]
    n_test = len(SPEAKERS) * 10 * TEST_TAKES
    assert fold["name"] == "official"
    confusion = torch.tensor(fold["confusion"])
    assert confusion.shape == (10, 10) and int(confusion.sum()) == n_test
    assert confusion.sum(dim=1).tolist() == [len(SPEAKERS) * TEST_TAKES] * 10  # rows: the true digit
    assert fold["accuracy"] == pytest.approx(float(confusion.trace()) / n_test)
    assert fold["accuracy"] > 0.5, fold  # chance is 0.1
    assert fold["accuracy_unrounded"] is not None and fold["accuracy_unrounded"] > 0.5
    assert set(fold["per_speaker"]) == set(SPEAKERS)
    assert sum(fold["per_speaker"].values()) / len(SPEAKERS) == pytest.approx(fold["accuracy"])
    assert summary["mean_accuracy"] == fold["accuracy"] == report.folds[0].accuracy
    assert [h.epoch for h in report.folds[0].history] == list(range(LEARN.epochs))
    assert report.rates_hz["1:alif"] > 0
    # the training loss fell and the training accuracy rose
    history = report.folds[0].history
    assert history[-1].loss < history[0].loss and history[-1].train_accuracy > history[0].train_accuracy
    # energy per utterance of the test set: SynOps of the hidden spikes, MACs of the input current
    energy = report.energy
    assert energy.batch == n_test
    assert energy.synops_per_sample > 0 and energy.macs_per_sample > 0
    hidden = LEARN.hidden
    per_frame = N_MELS * hidden + hidden * hidden + hidden * 10  # the ANN: every synapse every frame
    frames = float(features.lengths[features.data.takes < TEST_TAKES].sum())
    # counted in chunks of similar length: a little padding is counted, never less than the frames
    assert frames * per_frame / n_test <= energy.ann_macs_per_sample <= 1.15 * frames * per_frame / n_test
    assert energy.ann_macs_per_sample > energy.synops_per_sample + energy.macs_per_sample


def test_the_same_seed_gives_the_same_model(trained: tuple[SpeechReport, Path], cached: None, fsdd: Path,
                                            tmp_path: Path) -> None:
    report, out = trained
    again = run_speech(LEARN, tmp_path, fsdd, progress=False, threads=1)
    assert again.folds[0].accuracy == report.folds[0].accuracy
    assert torch.equal(again.folds[0].confusion, report.folds[0].confusion)
    first, second = load_checkpoint(out / "model.pt").state_dict, load_checkpoint(tmp_path / "model.pt").state_dict
    assert first.keys() == second.keys()
    for key, value in first.items():
        assert torch.equal(value, second[key]) if isinstance(value, torch.Tensor) else value == second[key], key


def test_load_speech_model_reproduces_the_reported_test_results(trained: tuple[SpeechReport, Path],
                                                                features: SpeechFeatures) -> None:
    report, out = trained
    model, config = load_speech_model(out / "model.pt")
    assert config == LEARN
    delayed = model.layers[0]
    assert isinstance(delayed, DelayedLinear) and delayed.frozen
    steps = delayed.integer_delays()
    assert int(steps.min()) >= 0 and int(steps.max()) <= LEARN.max_delay
    assert torch.equal(delayed.delay, steps.to(delayed.delay.dtype))  # whole steps, as exported
    test = torch.nonzero(features.data.takes < TEST_TAKES).flatten()
    pred = _test_logits(model, config, features.x[test]).argmax(dim=1)
    truth = features.data.labels[test]
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((truth, pred), torch.ones_like(truth), accumulate=True)
    assert torch.equal(confusion, report.folds[0].confusion)
    # padding does not change an utterance's decision: alone it gives the logits it gave in the batch
    batch = _test_logits(model, config, features.x[test[:6]])
    for row, i in enumerate(test[:6].tolist()):
        alone = _test_logits(model, config, features.x[i : i + 1, : int(features.lengths[i])])
        torch.testing.assert_close(alone[0], batch[row], rtol=1e-5, atol=1e-5)


def test_load_speech_model_refuses_other_checkpoints(tmp_path: Path) -> None:
    from axonal.tasks.digits import DemoConfig
    from axonal.tasks.digits import build_model as build_digits

    digits = save_checkpoint(tmp_path / "digits.pt", build_digits(DemoConfig(hidden=4)),
                             {"task": "digits", **asdict(DemoConfig(hidden=4))})
    with pytest.raises(ValueError, match="not a speech model"):
        load_speech_model(digits)
    config = SpeechConfig(hidden=4, max_delay=2, n_mels=N_MELS)
    bad = save_checkpoint(tmp_path / "bad.pt", build_model(config), {"task": "speech", **asdict(config), "hidden": 0})
    with pytest.raises(FileFormatError, match="its config is invalid: hidden must be"):
        load_speech_model(bad)
    other = SpeechConfig(hidden=5, max_delay=2, n_mels=N_MELS)  # weights of another size
    mismatched = save_checkpoint(tmp_path / "mismatched.pt", build_model(other), {"task": "speech", **asdict(config)})
    with pytest.raises(ValueError, match="shape mismatches"):
        load_speech_model(mismatched)


def test_nir_export_refuses_alif_and_the_delayed_synapses_round_trip(trained: tuple[SpeechReport, Path],
                                                                     features: SpeechFeatures,
                                                                     tmp_path: Path) -> None:
    """NIR has no adaptive-threshold neuron, so the whole recipe does not export; its first
    layer (the frozen, whole-step delayed synapses) does, and reads back to the same currents."""
    pytest.importorskip("nir")
    from axonal.interop import read_nir, to_nir, write_nir
    from axonal.nn.stateful import Recurrent

    model, _ = load_speech_model(trained[1] / "model.pt")
    assert isinstance(model.layers[1], Recurrent)
    with pytest.raises(ValueError, match=r"layer 1 \(Recurrent\): \w*ALIF has no NIR node"):
        to_nir(model, (N_MELS,))
    first = Sequential(model.layers[0])
    graph = write_nir(tmp_path / "synapses.nir", first, (N_MELS,))
    assert any(type(node).__name__ == "Delay" for node in graph.nodes.values())
    back = read_nir(tmp_path / "synapses.nir", speech.DT)
    i = int(torch.nonzero(features.data.takes < TEST_TAKES)[0])
    x = features.x[i, : int(features.lengths[i]), :N_MELS].unsqueeze(1)  # [T, 1, n_mels]
    with torch.no_grad():
        want = first.run(x).out
        got, _ = back(x)
    assert want.abs().sum() > 0
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)  # branches summed in another order


@pytest.mark.parametrize("change", [{"delays": "fixed"}, {"delays": "off"}, {"input": "delta"}, {"layers": 2}],
                         ids=["fixed-delays", "no-delays", "delta-input", "two-layers"])
def test_variants_run(change: dict[str, Any], cached: None, fsdd: Path, tmp_path: Path) -> None:
    config = SpeechConfig(hidden=8, epochs=1, max_delay=2, n_mels=N_MELS, batch_size=16, lr=2e-2, **change)  # type: ignore[arg-type]
    report = run_speech(config, tmp_path, fsdd, progress=False, threads=1)
    assert {p.name for p in report.files} == FILES
    [fold] = report.folds
    assert int(fold.confusion.sum()) == len(SPEAKERS) * 10 * TEST_TAKES
    assert (fold.accuracy_unrounded is None) == (config.delays != "learn")
    model, loaded = load_speech_model(tmp_path / "model.pt")
    assert loaded == config
    if config.delays == "off":
        assert type(model.layers[0]) is nn.Linear
    if config.delays == "fixed":  # the initial random whole-step delays, untouched by training
        seed_everything(config.seed)
        initial = build_model(config).layers[0]
        assert isinstance(initial, DelayedLinear) and isinstance(model.layers[0], DelayedLinear)
        assert torch.equal(model.layers[0].delay, initial.delay)
        assert not torch.equal(model.layers[0].weight, initial.weight)  # the weights did train
    if config.input == "delta":
        assert model.layers[0].in_features == 2 * N_MELS  # type: ignore[union-attr]
        assert 0 < report.rates_hz["input"] <= config.max_events / speech.DT  # events per channel and second
    if config.layers == 2:
        assert sorted(report.rates_hz) == ["1:alif", "4:alif"]  # a rate for each recurrent layer
        assert sum(isinstance(m, DelayedLinear) and m.frozen for m in model.layers) == 2


def test_delta_input_energy_and_rate(features: SpeechFeatures) -> None:
    """Binary delta spikes (``max_events=1``) are priced as synaptic events; counts of up to
    ``max_events`` per step as dense MACs (as SpeechConfig says); the input rate counts every event."""
    x = features.x[:8]
    for max_events in (1, 3):
        config = SpeechConfig(input="delta", max_events=max_events, hidden=8, max_delay=2, n_mels=N_MELS)
        model = build_model(config).eval()
        coding = speech._Coding(model, config)
        counts = speech.count_speech_ops(model, coding, x)
        spikes = coding.encode(x, torch.Generator().manual_seed(0))
        assert int(spikes.max()) == max_events  # the features do cross several thresholds in a step
        first = counts.layers[0]
        if max_events == 1:
            assert counts.input_spikes == int(spikes.sum()) and first.synops > 0 and first.macs == 0
        else:
            assert counts.input_spikes is None and first.synops == 0 and first.macs == first.dense_macs > 0
        rates = speech.layer_rates(model, spikes, coding.mask)
        frames = float(coding.mask.sum())
        assert rates["input"] == pytest.approx(float(spikes.sum()) / (frames * 2 * N_MELS * speech.DT))


def test_loso_one_speaker(cached: None, fsdd: Path, tmp_path: Path) -> None:
    config = SpeechConfig(split="loso", speaker="bo", hidden=8, epochs=1, max_delay=2, n_mels=N_MELS, batch_size=16)
    report = run_speech(config, tmp_path, fsdd, progress=False, threads=1)
    [fold] = report.folds
    assert fold.name == "bo" and set(fold.per_speaker) == {"bo"}
    assert int(fold.confusion.sum()) == 10 * len(TAKES)
    assert json.loads((tmp_path / "report.json").read_text())["folds"][0]["name"] == "bo"


def test_splits(features: SpeechFeatures) -> None:
    data = features.data
    everyone = set(range(len(data)))
    folds = speech._splits(SpeechConfig(split="loso"), data)
    assert [name for name, _, _ in folds] == list(SPEAKERS)
    for name, train, test in folds:
        assert {data.speakers[int(s)] for s in data.speaker_ids[test]} == {name}
        assert name not in {data.speakers[int(s)] for s in data.speaker_ids[train]}
        assert set(train.tolist()) | set(test.tolist()) == everyone and not set(train.tolist()) & set(test.tolist())
    [(name, train, test)] = speech._splits(SpeechConfig(split="loso", speaker="cy"), data)
    assert name == "cy" and len(test) == 10 * len(TAKES)
    with pytest.raises(ValueError, match="speaker must be one of"):
        speech._splits(SpeechConfig(split="loso", speaker="nobody"), data)
    [(name, train, test)] = speech._splits(SpeechConfig(), data)
    assert name == "official" and set(data.takes[test].tolist()) == set(range(5))
    assert set(data.takes[train].tolist()) == set(TAKES) - set(range(5))
    [(name, train, test)] = speech._splits(SpeechConfig(split="validation"), data)
    assert name == "validation" and set(data.takes[test].tolist()) == set(range(5, 10))
    assert set(data.takes[train].tolist()) == {10, 11}  # the test takes 0-4 are in neither side


@pytest.mark.parametrize(("change", "message"), [
    ({"split": "random"}, "split must be"),
    ({"speaker": "bo"}, "speaker names the held-out speaker"),
    ({"split": "validation", "speaker": "bo"}, "speaker names the held-out speaker"),
    ({"split": "loso", "speaker": 3}, "speaker names the held-out speaker"),
    ({"delays": "random"}, "delays must be"),
    ({"input": "spikes"}, "input must be"),
    ({"max_delay": 0}, "needs max_delay >= 1"),
    ({"delays": "fixed", "max_delay": 0}, "needs max_delay >= 1"),
    ({"max_delay": 101}, "max_delay must be in"),
    ({"hidden": 0}, "hidden must be"),
    ({"epochs": 0}, "epochs must be"),
    ({"n_mels": 3}, "n_mels must be"),
    ({"batch_size": 1.5}, "batch_size"),
    ({"lr": 0.0}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"tau_mem": -1e-3}, "tau_mem"),
    ({"delta_threshold": 0.0}, "delta_threshold"),
    ({"weight_decay": -1.0}, "weight_decay must be"),
    ({"delta_th": float("inf")}, "delta_th must be"),
    ({"freq_shift": -1.0}, "freq_shift must be"),
    ({"freq_shift": float("nan")}, "freq_shift must be"),
    ({"dropout": 1.0}, "dropout must be"),
    ({"dropout": -0.1}, "dropout must be"),
    ({"dropout": True}, "dropout must be"),
    ({"seed": -1}, "seed"),
])
def test_config_refusals(change: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        SpeechConfig(**change)


def test_augmentation_only_while_training(features: SpeechFeatures) -> None:
    """SpecAugment's masks and the mel-axis shift change training batches only; a mask zeroes
    at most ``freq_mask`` bands and ``time_mask`` frames (a quarter of the utterance at most)."""
    x = features.x[:12]
    length = x[..., -1].sum(dim=1).long()
    plain = x[:, : int(length.max()), :N_MELS].transpose(0, 1)  # [T, B, C]
    for name, widest in (("freq_mask", 3), ("time_mask", 6)):
        config = SpeechConfig(hidden=4, max_delay=2, n_mels=N_MELS, **{**SMALL, name: widest})  # type: ignore[arg-type]
        model = build_model(config)
        coding = speech._Coding(model, config)
        model.eval()
        assert torch.equal(coding.encode(x, torch.Generator().manual_seed(0)), plain)
        model.train()
        masked = coding.encode(x, torch.Generator().manual_seed(0))
        assert masked.shape == plain.shape and not torch.equal(masked, plain)
        for b in range(x.shape[0]):
            valid = slice(0, int(length[b]))
            zero = masked[valid, b] == 0  # [L, C]
            if name == "freq_mask":  # whole bands, every frame
                bands = zero.all(dim=0)
                assert int(bands.sum()) <= widest and torch.equal(masked[valid, b][:, ~bands], plain[valid, b][:, ~bands])
            else:  # a span of whole frames, at most a quarter of the utterance
                frames = zero.all(dim=1)
                assert int(frames.sum()) <= min(widest, int(length[b]) // 4)
                assert torch.equal(masked[valid, b][~frames], plain[valid, b][~frames])
    shifted = SpeechConfig(hidden=4, max_delay=2, n_mels=N_MELS, **{**SMALL, "freq_shift": 1.5})  # type: ignore[arg-type]
    model = build_model(shifted).train()
    warped = speech._Coding(model, shifted).encode(x, torch.Generator().manual_seed(0))
    assert not torch.equal(warped, plain)
    # every band is read between two neighbouring bands at most 1.5 away: within their range
    low = torch.stack([plain.roll(k, dims=2) for k in (-2, -1, 0, 1, 2)]).amin(dim=0)
    high = torch.stack([plain.roll(k, dims=2) for k in (-2, -1, 0, 1, 2)]).amax(dim=0)
    inner = slice(2, N_MELS - 2)  # away from the held edges and roll's wrap-around
    assert bool((warped[..., inner] >= low[..., inner] - 1e-6).all() and (warped[..., inner] <= high[..., inner] + 1e-6).all())


def test_config_accepts_no_delays_without_a_delay_range() -> None:
    config = SpeechConfig(delays="off", max_delay=0, hidden=4, n_mels=N_MELS)
    assert type(build_model(config).layers[0]) is nn.Linear
    assert SpeechConfig(input="delta", n_mels=N_MELS).in_features == 2 * N_MELS


def test_cli_trains_and_reports(fsdd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", "speech", "--data", str(fsdd), "--epochs", "1", "--hidden", "8", "--max-delay", "2",
                 "--out", str(out), "--no-progress", "--threads", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "accuracy per fold" in printed
    official = next(line for line in printed.splitlines() if line.strip().startswith("official:"))
    assert "%" in official and "before rounding the delays" in official
    assert all(f"{name} " in official for name in SPEAKERS), official
    assert "operations per utterance" in printed and "SNN/ANN estimate" in printed and "wrote:" in printed
    assert {p.name for p in out.iterdir()} >= FILES
    summary = json.loads((out / "report.json").read_text())
    assert summary["config"]["hidden"] == 8 and summary["config"]["max_delay"] == 2 and summary["config"]["epochs"] == 1
    assert f"{summary['folds'][0]['accuracy'] * 100:.2f}%" in official


def test_cli_refuses_a_speaker_the_data_lacks_before_reading_audio(
        fsdd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def reached(*args: object, **kwargs: object) -> None:
        pytest.fail("the speaker was not refused before the recipe started")

    monkeypatch.setattr(speech, "run_speech", reached)
    code = main(["train", "speech", "--data", str(fsdd), "--split", "loso", "--speaker", "george",
                 "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("axonal: compiling ")]
    assert lines == ["axonal train speech: error: argument --speaker: must be one of the data's speakers "
                     "['ada', 'bo', 'cy'], got 'george'"]
