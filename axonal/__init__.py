"""axonal: spiking neural networks on PyTorch."""
