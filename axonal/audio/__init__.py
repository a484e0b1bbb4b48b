"""Audio input for spiking networks, time-major and in torch (no torchaudio: it has no build
for the torch this project uses).

* :mod:`axonal.audio.wav`: reading and writing WAV files (:func:`read_wav`, :func:`write_wav`).
* :mod:`axonal.audio.resample`: band-limited polyphase resampling with a Kaiser-windowed sinc
  (:func:`resample`).
* :mod:`axonal.audio.filterbank`: power spectrogram, HTK/Slaney mel filterbanks, log or
  power-law compression (:class:`MelSpectrogram`, ``[B, N] -> [T, B, n_mels]``) and
  per-utterance feature normalisation (:func:`normalize_features`).
* :mod:`axonal.audio.spikes`: spike codes for ``[T, B, C]`` features with their decoders:
  send-on-delta ON/OFF, threshold crossing, LIF hair cell.
"""

from axonal.audio.filterbank import (
    Compression,
    MelScale,
    MelSpectrogram,
    compress,
    fft_frequencies,
    hz_to_mel,
    mel_edges,
    mel_filterbank,
    mel_to_hz,
    normalize_features,
    spectrogram,
)
from axonal.audio.resample import resample, resample_filter
from axonal.audio.spikes import (
    Band,
    decode_delta,
    decode_lif_rate,
    decode_threshold_crossing,
    lif_hair_cell,
    send_on_delta,
    threshold_crossing,
)
from axonal.audio.wav import Recording, read_wav, write_wav

__all__ = [
    "Recording",
    "read_wav",
    "write_wav",
    "resample",
    "resample_filter",
    "MelScale",
    "Compression",
    "hz_to_mel",
    "mel_to_hz",
    "fft_frequencies",
    "mel_edges",
    "mel_filterbank",
    "spectrogram",
    "compress",
    "MelSpectrogram",
    "normalize_features",
    "send_on_delta",
    "decode_delta",
    "threshold_crossing",
    "decode_threshold_crossing",
    "Band",
    "lif_hair_cell",
    "decode_lif_rate",
]
