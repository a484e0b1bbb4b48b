"""Audio input for spiking networks: reading recordings (:mod:`axonal.audio.wav`).

Everything here is plain numpy/torch: torchaudio has no build for the torch this project uses.
"""

from axonal.audio.wav import Recording, read_wav, write_wav

__all__ = ["Recording", "read_wav", "write_wav"]
