"""Pure math: the only copy of every neuron, surrogate and coding equation."""
