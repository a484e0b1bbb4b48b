"""A linear projection with learnable synaptic delays: :class:`DelayedLinear`.

Each synapse (``mode="synapse"``: one per ``(out, in)`` pair) or each input channel
(``mode="channel"``) has a real-valued delay ``d`` in ``[0, max_delay]`` steps, trained with
the weights by backpropagation through time, in the manner of DCLS (dilated convolution with
learnable spacings; Hammouamri, Khalfaoui-Hassani & Masquelier 2023). Over the
``D = max_delay + 1`` taps ``k = 0 .. D-1`` a synapse's temporal kernel is its weight times a
normalised interpolation kernel ``h(k; d)`` centred on its delay, and the layer is a causal
temporal convolution of the time-major input::

    y[t, b, o] = bias[o] + sum_i sum_k w[o, i] h(k; d[o, i]) x[t - k, b, i]

with ``x`` zero before the first step (or the inputs held in the state, see below).

Interpolation kernels:

* ``"gaussian"`` (default, DCLS's): ``h(k) = softmax_k(-(k - d)^2 / (2 sigma^2))``, a Gaussian
  of width ``sigma`` steps normalised over the taps. A wide ``sigma`` lets a delay feel inputs
  far from it, so delays move toward distant coincidences; anneal it during training (set
  :attr:`DelayedLinear.sigma` between epochs, DCLS goes from ``max_delay / 2`` toward 0.5 or
  below) so that the kernel is close to one tap when the delays are rounded for inference.
* ``"linear"``: ``h`` splits the synapse between the two integer taps around ``d``,
  ``1 - frac`` on ``floor(d)`` and ``frac`` on ``floor(d) + 1``. No width to tune and exactly
  one tap at a whole number of steps, but its gradient with respect to ``d``,
  ``w (x[t - floor(d) - 1] - x[t - floor(d)])`` (the right-hand derivative at whole steps),
  only sees the neighbouring tap: good for fine-tuning delays near their place, poor at
  finding a coincidence several steps away from where a delay starts.

Delays are stored in steps (the parameter :attr:`DelayedLinear.delay`) and reported in seconds
by :attr:`DelayedLinear.delays_s` (``steps * dt``). The forward uses the delays clamped to
``[0, max_delay]``; call :meth:`DelayedLinear.clamp_` after each optimiser step to keep the
parameter itself in range (a delay pushed outside would otherwise get no gradient).

For inference, :meth:`DelayedLinear.freeze` rounds the delays to whole steps in place (and
stops their gradient; the weights stay trainable) and :meth:`DelayedLinear.rounded` returns a
frozen copy. A frozen layer shifts the input by each synapse's integer delay and multiplies by
the weight, exactly; only a frozen layer exports to NIR (``Delay`` + ``Affine`` nodes).

The layer keeps the state contract of :mod:`axonal.nn.protocol`: its state is the last
``max_delay`` inputs ``[max_delay, B, in]``, oldest first, so a run split into chunks, or
step by step with :meth:`DelayedLinear.step`, equals one run.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axonal.functional.scan import check_sequence
from axonal.functional.validate import check_dt, check_finite

__all__ = ["DelayMode", "DelayKernel", "DelayedLinear", "interpolation_kernel"]

DelayMode = Literal["synapse", "channel"]
DelayKernel = Literal["linear", "gaussian"]

_MODES = ("synapse", "channel")
_KERNELS = ("linear", "gaussian")


def interpolation_kernel(delay: Tensor, taps: int, kernel: DelayKernel = "gaussian", sigma: float = 1.0) -> Tensor:
    """The normalised weights ``h(k; d)`` of each delay over ``taps`` integer taps.

    Args:
        delay: delays in steps, any shape ``[...]``, each in ``[0, taps - 1]``.
        taps: number of taps ``D`` (``max_delay + 1``).
        kernel: ``"gaussian"`` (width ``sigma``) or ``"linear"`` (the two taps around ``d``).
        sigma: Gaussian width in steps (> 0); unused for ``"linear"``.

    Returns:
        ``[..., taps]``, each row summing to 1, differentiable with respect to ``delay``.
    """
    if taps == 1:
        return torch.ones((*delay.shape, 1), dtype=delay.dtype, device=delay.device)
    if kernel == "linear":
        lo = torch.floor(delay.detach()).clamp(max=taps - 2)
        frac = (delay - lo).unsqueeze(-1)  # in [0, 1]; carries the gradient
        lo_i = lo.to(torch.long).unsqueeze(-1)
        h = torch.zeros((*delay.shape, taps), dtype=delay.dtype, device=delay.device)
        h = h.scatter(-1, lo_i, 1.0 - frac)
        return h.scatter(-1, lo_i + 1, frac)
    k = torch.arange(taps, dtype=delay.dtype, device=delay.device)
    return torch.softmax(-((k - delay.unsqueeze(-1)) ** 2) / (2.0 * sigma * sigma), dim=-1)


def _check_sigma(sigma: Any) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise TypeError(f"sigma must be a float in steps, got {type(sigma).__name__}")
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be finite and > 0 steps, got {sigma}")
    return float(sigma)


class DelayedLinear(nn.Module):
    """Linear projection whose synapses have learnable delays (DCLS-style interpolation).

    Args:
        in_features: input channels (>= 1).
        out_features: output channels (>= 1).
        max_delay: longest delay in steps (int >= 0); the kernel has ``max_delay + 1`` taps.
        dt: step in seconds (only used to report and export delays in seconds).
        mode: ``"synapse"`` (a delay per ``(out, in)`` pair, :attr:`delay` ``[out, in]``) or
            ``"channel"`` (a delay per input channel, :attr:`delay` ``[in]``; cheaper: the
            input is delayed per channel, then projected).
        bias: whether to add a learnable bias (as ``nn.Linear``).
        kernel: interpolation kernel, ``"gaussian"`` (default) or ``"linear"``; see the module
            docstring.
        sigma: Gaussian width in steps (> 0); default ``max(max_delay / 2, 0.5)``. Only for
            ``kernel="gaussian"``; anneal it by setting :attr:`sigma`.
        delay_init: ``"zero"`` (every delay 0, default) or ``"uniform"`` (uniform in
            ``[0, max_delay]`` steps, as DCLS initialises its positions).

    Weights and bias are initialised as ``nn.Linear``'s.

    Shapes:
        forward: ``x [T, B, in] -> (y [T, B, out], state [max_delay, B, in])``.
        step: ``x [B, in] -> (y [B, out], state)``.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None
    delay: nn.Parameter

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: int,
        dt: float,
        mode: DelayMode = "synapse",
        bias: bool = True,
        kernel: DelayKernel = "gaussian",
        sigma: float | None = None,
        delay_init: Literal["zero", "uniform"] = "zero",
    ) -> None:
        super().__init__()
        for name, value, least in (("in_features", in_features, 1), ("out_features", out_features, 1),
                                   ("max_delay", max_delay, 0)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < least:
                unit = " steps" if name == "max_delay" else ""
                raise ValueError(f"{name} must be >= {least}{unit}, got {value}")
        if mode not in _MODES:
            raise ValueError(f"mode must be 'synapse' or 'channel', got {mode!r}")
        if kernel not in _KERNELS:
            raise ValueError(f"kernel must be 'linear' or 'gaussian', got {kernel!r}")
        if sigma is not None and kernel != "gaussian":
            raise ValueError(f"sigma is the width of the Gaussian kernel; kernel={kernel!r} has none")
        if delay_init not in ("zero", "uniform"):
            raise ValueError(f"delay_init must be 'zero' or 'uniform', got {delay_init!r}")
        self.dt = check_dt(dt)
        self.in_features = in_features
        self.out_features = out_features
        self.max_delay = max_delay
        self.mode: DelayMode = mode
        self.kernel: DelayKernel = kernel
        self._sigma = _check_sigma(sigma) if sigma is not None else max(max_delay / 2.0, 0.5)
        self.frozen = False
        proto = nn.Linear(in_features, out_features, bias=bias)  # nn.Linear's initialisation
        self.weight = nn.Parameter(proto.weight.detach().clone())
        self.bias = None if proto.bias is None else nn.Parameter(proto.bias.detach().clone())
        shape = (out_features, in_features) if mode == "synapse" else (in_features,)
        d = torch.zeros(shape)
        if delay_init == "uniform":
            d.uniform_(0.0, float(max_delay))
        self.delay = nn.Parameter(d)

    # ------------------------------------------------------------------ delays

    @property
    def taps(self) -> int:
        """Kernel length ``D = max_delay + 1`` (taps ``0 .. max_delay`` steps)."""
        return self.max_delay + 1

    @property
    def sigma(self) -> float:
        """Width of the Gaussian kernel in steps (> 0); set it to anneal during training."""
        return self._sigma

    @sigma.setter
    def sigma(self, value: float) -> None:
        self._sigma = _check_sigma(value)

    @property
    def delays_s(self) -> Tensor:
        """The delays in seconds (clamped to ``[0, max_delay]`` steps, times ``dt``; rounded when
        frozen), detached; shape of :attr:`delay`."""
        return self._delays().detach() * self.dt

    def integer_delays(self) -> Tensor:
        """The delays rounded to whole steps (``long``, clamped to ``[0, max_delay]``)."""
        return torch.round(self.delay.detach().clamp(0.0, float(self.max_delay))).to(torch.long)

    def _delays(self) -> Tensor:
        if self.frozen:
            return self.integer_delays().to(self.delay.dtype)
        return self.delay.clamp(0.0, float(self.max_delay))

    def clamp_(self) -> DelayedLinear:
        """Clamp :attr:`delay` in place to ``[0, max_delay]`` steps (call after each optimiser
        step); returns ``self``."""
        with torch.no_grad():
            self.delay.clamp_(0.0, float(self.max_delay))
        return self

    def freeze(self) -> DelayedLinear:
        """Round the delays to whole steps in place and stop their gradient (the weights and
        bias stay trainable); the kernel becomes one tap per synapse. Returns ``self``."""
        with torch.no_grad():
            self.delay.copy_(self.integer_delays().to(self.delay.dtype))
        self.delay.requires_grad_(False)
        self.frozen = True
        return self

    def unfreeze(self) -> DelayedLinear:
        """Train the delays again (from their rounded values). Returns ``self``."""
        self.delay.requires_grad_(True)
        self.frozen = False
        return self

    def rounded(self) -> DelayedLinear:
        """A frozen copy (delays rounded to whole steps); ``self`` is unchanged."""
        return copy.deepcopy(self).freeze()

    def kernel_weights(self) -> Tensor:
        """The temporal kernel ``K [out, in, D]``: ``y[t] = sum_i sum_k K[o, i, k] x[t - k, i]``."""
        d = self._delays()
        if self.frozen:
            h = F.one_hot(self.integer_delays(), self.taps).to(self.weight.dtype)
        else:
            h = interpolation_kernel(d, self.taps, self.kernel, self._sigma)
        if self.mode == "channel":
            h = h.unsqueeze(0)
        return self.weight.unsqueeze(-1) * h

    def get_extra_state(self) -> Tensor:
        """``[frozen (0/1), sigma]`` as a float64 tensor: a ``state_dict`` of tensors only, as
        axonal's checkpoints require."""
        return torch.tensor([float(self.frozen), self._sigma], dtype=torch.float64)

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, Tensor) or state.shape != (2,) or not bool(torch.isfinite(state).all()) \
                or float(state[0]) not in (0.0, 1.0):
            raise ValueError(f"DelayedLinear extra state must be a tensor [frozen (0 or 1), sigma], got {state!r}")
        self.sigma = float(state[1])
        if float(state[0]) == 1.0:
            self.frozen = True
            self.delay.requires_grad_(False)
        else:
            self.unfreeze()

    # ------------------------------------------------------------------ running

    def initial_state(self, x: Tensor) -> Tensor:
        """No input seen yet: zeros ``[max_delay, B, in]`` for a single-step input ``x [B, in]``."""
        check_sequence(x, "x", min_rank=1)
        self._check_features(x, "B")
        return x.new_zeros((self.max_delay, *x.shape))

    def _check_features(self, x: Tensor, lead: str) -> None:
        rank = len(lead.split(",")) + 1
        if x.dim() != rank or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape [{lead}, {self.in_features}], got {tuple(x.shape)}")
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"x has dtype {x.dtype} but the layer's parameters are {self.weight.dtype}; "
                f"convert one of them (e.g. layer.to({x.dtype}))"
            )

    def _check_state(self, state: Any, x: Tensor) -> Tensor:
        want = (self.max_delay, x.shape[1], self.in_features)
        if not isinstance(state, Tensor) or tuple(state.shape) != want:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"DelayedLinear state must be a tensor of shape {want} ([max_delay, B, in]), got {got}")
        if state.dtype != x.dtype:
            raise TypeError(f"DelayedLinear state has dtype {state.dtype}, x has {x.dtype}")
        check_finite("state", state, "DelayedLinear")
        return state

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run over ``x [T, B, in]`` from ``state`` (the last ``max_delay`` inputs, oldest
        first; ``None``: zeros). Returns ``(y [T, B, out], state)``.

        Raises:
            ValueError: ``x`` not ``[T, B, in]`` or a state of the wrong shape.
            NonFiniteError: NaN or inf in ``x`` or in the state.
        """
        check_sequence(x, "x")
        self._check_features(x, "T, B")
        n = self.max_delay
        if state is None:
            state = x.new_zeros((n, *x.shape[1:]))
        else:
            state = self._check_state(state, x)
        padded = torch.cat([state, x]) if n else x
        y = self._run(padded, x.shape[0])
        return y, padded[padded.shape[0] - n :]

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step on ``x [B, in]``: ``(y [B, out], state)``."""
        check_sequence(x, "x", min_rank=1)
        self._check_features(x, "B")
        y, new_state = self.forward(x.unsqueeze(0), state)
        return y[0], new_state

    def _run(self, padded: Tensor, steps: int) -> Tensor:
        """``y [T, B, out]`` from the input with its ``max_delay`` earlier steps in front."""
        if self.frozen:
            return self._run_frozen(padded, steps)
        d = self._delays()
        h = interpolation_kernel(d, self.taps, self.kernel, self._sigma)
        # conv1d correlates: tap k (delay k) sits at position D-1-k of the flipped kernel
        seq = padded.permute(1, 2, 0)  # [B, in, T + D - 1]
        if self.mode == "channel":
            z = F.conv1d(seq, h.flip(-1).unsqueeze(1), groups=self.in_features)  # [B, in, T]
            return F.linear(z.permute(2, 0, 1), self.weight, self.bias)
        k = (self.weight.unsqueeze(-1) * h).flip(-1)  # [out, in, D]
        return F.conv1d(seq, k, self.bias).permute(2, 0, 1)

    def _run_frozen(self, padded: Tensor, steps: int) -> Tensor:
        """Shift by each integer delay and project: the computation the NIR export describes
        (``Delay`` then ``Affine``; in synapse mode one branch per delay value, summed in
        increasing order of delay, the bias on the first)."""
        n = self.max_delay
        batch = padded.shape[1]
        s = self.integer_delays().to(padded.device)
        if self.mode == "channel":
            t = torch.arange(steps, device=padded.device).view(-1, 1, 1)
            z = padded.gather(0, (t + n - s).expand(steps, batch, self.in_features))
            return F.linear(z, self.weight, self.bias)
        y: Tensor | None = None
        for k in torch.unique(s).tolist():  # one branch per distinct delay, not per synapse
            w = torch.where(s == k, self.weight, torch.zeros_like(self.weight))
            xk = padded[n - k : n - k + steps].reshape(steps * batch, self.in_features)
            part = F.linear(xk, w, self.bias if y is None else None).reshape(steps, batch, self.out_features)
            y = part if y is None else y + part
        assert y is not None
        return y

    def count_synaptic(self, x: Tensor) -> tuple[int, int]:
        """The synaptic work of one call on ``x`` (``[T, B, in]`` or ``[B, in]``), for
        :func:`axonal.energy.count_ops`: ``(fan_out, dense_macs)``.

        Each input element reaches each of its ``out_features`` synapses exactly once, at its
        delay (fan-out ``out_features``, in both modes); the dense equivalent is the plain linear
        map, ``in * out`` MACs per step and sample: the delay line is memory, not arithmetic.
        A layer that is not frozen is counted as its frozen copy would be (its interpolation
        kernel spreads a synapse over several taps only to train the delay).
        """
        return self.out_features, x.numel() * self.out_features

    def extra_repr(self) -> str:
        parts = [
            f"in_features={self.in_features}", f"out_features={self.out_features}",
            f"max_delay={self.max_delay}", f"dt={self.dt:g}", f"mode={self.mode!r}",
            f"kernel={self.kernel!r}",
        ]
        if self.kernel == "gaussian":
            parts.append(f"sigma={self._sigma:g}")
        parts += [f"bias={self.bias is not None}", f"frozen={self.frozen}"]
        return ", ".join(parts)

