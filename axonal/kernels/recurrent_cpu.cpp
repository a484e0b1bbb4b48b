// Fused recurrent kernels on CPU (axonal.kernels.recurrent): a neuron family of
// ../csrc/fused_kernels.h driven by its own spikes through a recurrent weight matrix,
//
//   I[t] = x[t] + fed[t],   fed[0] = fed0,   fed[t] = z[t-1] W^T (+ b)   (t >= 1)
//   z[t], s[t+1] = step(I[t], s[t])
//
// which is axonal.nn.Recurrent(neuron, nn.Linear(n, n)) with the time loop in C++.
//
// Forward: sequential over T; each step is one GEMM on [B, n] (at::addmm / at::mm with the
// operands nn.Linear passes them, so the recurrent input has the reference's bits) and then
// the family's elementwise step (the traits' step(), the same code as the fused kernels),
// parallel over the N = B x n neurons. Kept for the backward pass: the spikes (the float
// output), the input of every step I [T, N] and the state before every step, trace
// [T, S (+1 with a refractory period), N]: every step's state is stored, none recomputed.
//
// Backward: the reverse sweep. At step t the gradient that reaches the spike z[t] is
// grad_out[t] plus the recurrent path (dL/dI[t+1]) W (one GEMM on [B, n]); the traits'
// backward() takes it through the step and returns dL/dI[t], which is also dL/dx[t] (and
// dL/dfed0 at t = 0). The coefficient gradients are summed per neuron in time order, as the
// fused kernels do. After the sweep, dL/dW = sum_t dL/dI[t]^T z[t-1] is one GEMM over the
// (T - 1) x B rows and dL/db the same rows summed in order.
//
// Threads: the elementwise steps give every neuron the same arithmetic whatever the split;
// the GEMMs are torch's (MKL or OpenBLAS), as in the reference loop and its autograd.
//
// Non-finite values: the forward reports (it does not raise) which of x, fed0, W, b, the
// initial states and the coefficients hold inf or nan (bits below); axonal.kernels.recurrent
// raises NonFiniteError naming them.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "../csrc/fused_kernels.h"

namespace {

using namespace axonal_fused;

// Bits of the forward's non-finite report: 0 x, 1 fed0, 2 weight, 3 bias, then 4 + q the
// initial state q (S + 1 of them, the refractory countdown last), then the coefficients.
constexpr int BIT_X = 0, BIT_FED = 1, BIT_W = 2, BIT_B = 3, BIT_STATE = 4;

template <typename T>
T* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

template <typename T>
int any_nonfinite(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  const T* RESTRICT p = c.data_ptr<T>();
  int bad = 0;
  for (int64_t i = 0, n = c.numel(); i < n; ++i) bad |= nonfinite(p[i]);
  return bad;
}

// One step forward over neurons [b, e): I = x + fed (stored in in_t), the state before the
// step into trace_t ([SC, N]), then the family's step in place on st; the spikes into out_t.
// Returns non-zero when x holds inf or nan.
template <class F, typename T, int RESET, bool REF>
int step_forward(const T* RESTRICT xt, const T* RESTRICT fed, T* RESTRICT in_t,
                 const std::array<T*, F::S + 1>& st, T* RESTRICT trace_t,
                 const std::array<const T*, F::P>& prm, T* RESTRICT out_t, int64_t N, int64_t b,
                 int64_t e, const Gate<T>& gate) {
  constexpr int S = F::S, SC = S + (REF ? 1 : 0), P = F::P;
  T* sp[SC];
  const T* pp[P];
  for (int q = 0; q < SC; ++q) sp[q] = st[q];
  for (int q = 0; q < P; ++q) pp[q] = prm[q];
  int bad = 0;
#pragma GCC ivdep
  for (int64_t i = b; i < e; ++i) {
    T s[SC], p[P];
    for (int q = 0; q < SC; ++q) s[q] = trace_t[q * N + i] = sp[q][i];
    for (int q = 0; q < P; ++q) p[q] = pp[q][i];
    bad |= nonfinite(xt[i]);
    const T I = xt[i] + fed[i];
    in_t[i] = I;
    T z;
    if constexpr (REF) {
      const T rem = axonal_refractory_remaining(s[S], gate.dt);
      z = F::template step<T, RESET, false, true>(s, I, p, T(0),
                                                  axonal_refractory_active(rem, gate.ref_limit));
      s[S] = axonal_refractory_after(z, gate.t_ref, rem);
    } else {
      z = F::template step<T, RESET, false, false>(s, I, p, T(0), true);
    }
    for (int q = 0; q < SC; ++q) sp[q][i] = s[q];
    out_t[i] = z;
  }
  return bad;
}

// One step backward over neurons [b, e): from dL/dz[t] (gout_t, plus the recurrent path grec
// when given) and dL/d(state after) in gs, writes dL/dI[t] into gin_t, dL/d(state before) into
// gs, and adds the coefficient gradients into ga.
template <class F, typename T, int RESET, int KIND, bool REF>
void step_backward(const T* RESTRICT gout_t, const T* RESTRICT grec, const T* RESTRICT trace_t,
                   const T* RESTRICT in_t, const T* RESTRICT out_t,
                   const std::array<const T*, F::P>& prm, T attached, T k, T* RESTRICT gin_t,
                   const std::array<T*, F::S + 1>& gsv, const std::array<T*, F::G>& gav,
                   int64_t N, int64_t b, int64_t e, const Gate<T>& gate) {
  constexpr int S = F::S, SC = S + (REF ? 1 : 0), P = F::P, G = F::G;
  T* gs[SC];
  T* ga[G];
  const T* pp[P];
  for (int q = 0; q < SC; ++q) gs[q] = gsv[q];
  for (int q = 0; q < G; ++q) ga[q] = gav[q];
  for (int q = 0; q < P; ++q) pp[q] = prm[q];
#pragma GCC ivdep
  for (int64_t i = b; i < e; ++i) {
    T s[SC], p[P], g[SC], a[G];
    for (int q = 0; q < SC; ++q) {
      s[q] = trace_t[q * N + i];
      g[q] = gs[q][i];
    }
    for (int q = 0; q < P; ++q) p[q] = pp[q][i];
    for (int q = 0; q < G; ++q) a[q] = ga[q][i];
    const T z = out_t[i];
    const T gz = grec ? gout_t[i] + grec[i] : gout_t[i];
    if constexpr (REF) {
      const bool open =
          axonal_refractory_active(axonal_refractory_remaining(s[S], gate.dt), gate.ref_limit);
      const T g_ref = axonal_refractory_backward(g[S], z, s[S], gate.dt);
      gin_t[i] = F::template backward<T, RESET, KIND, true>(g, a, s, in_t[i], z, gz, p,
                                                            attached, k, open);
      g[S] = g_ref;
    } else {
      gin_t[i] = F::template backward<T, RESET, KIND, false>(g, a, s, in_t[i], z, gz, p,
                                                             attached, k, true);
    }
    for (int q = 0; q < SC; ++q) gs[q][i] = g[q];
    for (int q = 0; q < G; ++q) ga[q][i] = a[q];
  }
}

// The recurrent input of step t >= 1 from the spikes of step t - 1 ([B, n] rows of out), as
// nn.Linear computes it: addmm(b, z, W^T) with a bias, else mm(z, W^T).
torch::Tensor recurrent_input(const torch::Tensor& z_prev, const torch::Tensor& weight,
                              const std::optional<torch::Tensor>& bias) {
  if (bias.has_value() && bias->defined()) return at::addmm(*bias, z_prev, weight.t());
  return at::mm(z_prev, weight.t());
}

void check_common(const torch::Tensor& x, const torch::Tensor& weight, double t_ref, double dt) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  TORCH_CHECK(x.size(0) >= 1, "x must have at least one step");
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == weight.size(1) && weight.size(0) > 0,
              "weight must be a square [n, n] tensor");
  TORCH_CHECK(weight.scalar_type() == x.scalar_type(), "weight must have the dtype of x");
  TORCH_CHECK(x.size(1) % weight.size(0) == 0, "x's N must be a multiple of the weight's n");
  TORCH_CHECK(dt > 0, "dt must be > 0 s, got ", dt);
  TORCH_CHECK(t_ref >= 0, "t_ref must be >= 0 s, got ", t_ref);
}

// <family>_recurrent_forward(x [T, N], fed0 [N], weight [n, n], bias [n] or None, state0
// (S + 1 tensors [N], the refractory countdown last), coefficients (P tensors [N]), reset,
// t_ref, dt, ref_limit) -> ((out [T, N], *state_T, refractory_T, trace [T, SC, N],
// inputs [T, N]), non-finite report).
template <class F>
std::tuple<std::vector<torch::Tensor>, int64_t> recurrent_forward(
    const torch::Tensor& x, const torch::Tensor& fed0, const torch::Tensor& weight,
    const std::optional<torch::Tensor>& bias, const std::vector<torch::Tensor>& state0,
    const std::vector<torch::Tensor>& coef, int64_t reset, double t_ref, double dt,
    double ref_limit) {
  constexpr int SA = F::S + 1, P = F::P;
  check_common(x, weight, t_ref, dt);
  const int64_t Tn = x.size(0), N = x.size(1), n = weight.size(0), B = N / n;
  TORCH_CHECK(static_cast<int>(state0.size()) == SA && static_cast<int>(coef.size()) == P,
              F::name, ": expected ", SA, " states and ", P, " coefficients");
  std::vector<torch::Tensor> flat = {fed0};
  flat.insert(flat.end(), state0.begin(), state0.end());
  flat.insert(flat.end(), coef.begin(), coef.end());
  for (const auto& t : flat) {
    TORCH_CHECK(t.dim() == 1 && t.size(0) == N && t.is_contiguous() &&
                    t.scalar_type() == x.scalar_type(),
                "fed0/state/coefficient must be a contiguous [N] tensor with the dtype of x");
  }
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == n && bias->scalar_type() == x.scalar_type(),
                "bias must be an [n] tensor with the dtype of x");
  }
  const int64_t carried = F::S + (t_ref > 0 ? 1 : 0);
  std::vector<torch::Tensor> result;
  result.push_back(torch::empty({Tn, N}, x.options()));
  for (int q = 0; q < SA; ++q) result.push_back(state0[q].clone());
  result.push_back(torch::empty({Tn, carried, N}, x.options()));
  result.push_back(torch::empty({Tn, N}, x.options()));
  const torch::Tensor &out = result[0], &trace = result[1 + SA], &inputs = result[2 + SA];
  int64_t report = 0;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), F::name, [&] {
    using T = scalar_t;
    if (any_nonfinite<T>(fed0)) report |= int64_t(1) << BIT_FED;
    if (any_nonfinite<T>(weight)) report |= int64_t(1) << BIT_W;
    if (has_bias && any_nonfinite<T>(*bias)) report |= int64_t(1) << BIT_B;
    for (int q = 0; q < SA; ++q)
      if (any_nonfinite<T>(state0[q])) report |= int64_t(1) << (BIT_STATE + q);
    for (int q = 0; q < P; ++q)
      if (any_nonfinite<T>(coef[q])) report |= int64_t(1) << (BIT_STATE + SA + q);
    std::array<T*, SA> st;
    for (int q = 0; q < SA; ++q) st[q] = ptr<T>(result[1 + q]);
    std::array<const T*, P> prm;
    for (int q = 0; q < P; ++q) prm[q] = ptr<T>(coef[q]);
    const Gate<T> gate(dt, t_ref, ref_limit);
    const T* xs = ptr<T>(x);
    T* os = ptr<T>(out);
    T* tr = ptr<T>(trace);
    T* ins = ptr<T>(inputs);
    dispatch_reset(reset, [&](auto r) {
      constexpr int R = decltype(r)::value;
      std::atomic<int> bad{0};
      torch::Tensor fed = fed0;
      for (int64_t t = 0; t < Tn; ++t) {
        if (t > 0) fed = recurrent_input(out.select(0, t - 1).view({B, n}), weight, bias);
        const T* fp = ptr<T>(fed);
        at::parallel_for(0, N, GRAIN, [&](int64_t b0, int64_t e0) {
          const int found =
              t_ref > 0
                  ? step_forward<F, T, R, true>(xs + t * N, fp, ins + t * N, st,
                                                tr + t * carried * N, prm, os + t * N, N, b0,
                                                e0, gate)
                  : step_forward<F, T, R, false>(xs + t * N, fp, ins + t * N, st,
                                                 tr + t * carried * N, prm, os + t * N, N, b0,
                                                 e0, gate);
          if (found) bad.store(1);
        });
      }
      if (bad.load()) report |= int64_t(1) << BIT_X;
    });
  });
  return {result, report};
}

// <family>_recurrent_backward(grad_out [T, N], grad_state_T (S + 1 tensors [N]), out, trace,
// inputs, weight, coefficients, reset, detach, kind, slope, t_ref, dt, ref_limit) ->
// (grad_x [T, N] (= dL/dI; its row 0 is dL/dfed0), *grad_state0, grad_refractory0,
// *grad_coefficients (G), grad_weight [n, n], grad_bias [n]).
template <class F>
std::vector<torch::Tensor> recurrent_backward(
    const torch::Tensor& grad_out_in, const std::vector<torch::Tensor>& grad_state,
    const torch::Tensor& out, const torch::Tensor& trace, const torch::Tensor& inputs,
    const torch::Tensor& weight, const std::vector<torch::Tensor>& coef, int64_t reset,
    bool detach, int64_t kind, double slope, double t_ref, double dt, double ref_limit) {
  constexpr int SA = F::S + 1, P = F::P, G = F::G;
  check_common(inputs, weight, t_ref, dt);
  const int64_t Tn = inputs.size(0), N = inputs.size(1), n = weight.size(0), B = N / n;
  const int64_t carried = F::S + (t_ref > 0 ? 1 : 0);
  TORCH_CHECK(static_cast<int>(grad_state.size()) == SA && static_cast<int>(coef.size()) == P,
              F::name, ": expected ", SA, " state gradients and ", P, " coefficients");
  TORCH_CHECK(trace.dim() == 3 && trace.size(0) == Tn && trace.size(1) == carried &&
                  trace.size(2) == N && trace.is_contiguous(),
              "trace does not come from the forward with this t_ref");
  TORCH_CHECK(out.sizes() == inputs.sizes() && out.is_contiguous() && inputs.is_contiguous(),
              "out and inputs must be the forward's contiguous [T, N] outputs");
  const torch::Tensor gout = grad_out_in.contiguous();
  TORCH_CHECK(gout.sizes() == inputs.sizes() && gout.scalar_type() == inputs.scalar_type(),
              "grad_out must be [T, N] with the dtype of the input");
  std::vector<torch::Tensor> result;
  result.push_back(torch::empty({Tn, N}, inputs.options()));
  for (int q = 0; q < SA; ++q) {
    TORCH_CHECK(grad_state[q].numel() == N, "every state gradient must have N entries");
    result.push_back(grad_state[q].contiguous().to(inputs.scalar_type()).clone());
  }
  for (int q = 0; q < G; ++q) result.push_back(torch::zeros({N}, inputs.options()));
  const torch::Tensor& gin = result[0];
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), F::name, [&] {
    using T = scalar_t;
    std::array<T*, SA> gs;
    for (int q = 0; q < SA; ++q) gs[q] = ptr<T>(result[1 + q]);
    std::array<T*, G> ga;
    for (int q = 0; q < G; ++q) ga[q] = ptr<T>(result[1 + SA + q]);
    std::array<const T*, P> prm;
    for (int q = 0; q < P; ++q) {
      TORCH_CHECK(coef[q].dim() == 1 && coef[q].size(0) == N && coef[q].is_contiguous() &&
                      coef[q].scalar_type() == inputs.scalar_type(),
                  "every coefficient must be a contiguous [N] tensor with the dtype of x");
      prm[q] = ptr<T>(coef[q]);
    }
    const Gate<T> gate(dt, t_ref, ref_limit);
    const T attached = T(detach ? 0 : 1), k = T(slope);
    const T* go = ptr<T>(gout);
    const T* os = ptr<T>(out);
    const T* tr = ptr<T>(trace);
    const T* ins = ptr<T>(inputs);
    T* gi = ptr<T>(gin);
    dispatch_reset(reset, [&](auto r) {
      constexpr int R = decltype(r)::value;
      dispatch_surrogate(kind, [&](auto kd) {
        constexpr int KD = decltype(kd)::value;
        torch::Tensor grec;  // (dL/dI[t+1]) W: the recurrent path into z[t]
        for (int64_t t = Tn - 1; t >= 0; --t) {
          const T* gr = ptr<T>(grec);
          at::parallel_for(0, N, GRAIN, [&](int64_t b0, int64_t e0) {
            if (t_ref > 0) {
              step_backward<F, T, R, KD, true>(go + t * N, gr, tr + t * carried * N,
                                               ins + t * N, os + t * N, prm, attached, k,
                                               gi + t * N, gs, ga, N, b0, e0, gate);
            } else {
              step_backward<F, T, R, KD, false>(go + t * N, gr, tr + t * carried * N,
                                                ins + t * N, os + t * N, prm, attached, k,
                                                gi + t * N, gs, ga, N, b0, e0, gate);
            }
          });
          if (t > 0) grec = at::mm(gin.select(0, t).view({B, n}), weight);
        }
      });
    });
  });
  // the recurrent weight and bias: the rows of steps 1 .. T-1 against the spikes before them
  torch::Tensor gw, gb = torch::zeros({n}, inputs.options());
  if (Tn > 1) {
    const torch::Tensor g_rows = gin.narrow(0, 1, Tn - 1).reshape({(Tn - 1) * B, n});
    gw = at::mm(g_rows.t(), out.narrow(0, 0, Tn - 1).reshape({(Tn - 1) * B, n}));
    AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "recurrent_bias", [&] {
      using T = scalar_t;
      const T* g = g_rows.data_ptr<T>();
      T* o = gb.data_ptr<T>();
      const int64_t rows = g_rows.size(0);
      at::parallel_for(0, n, GRAIN, [&](int64_t c0, int64_t c1) {  // each column in row order
        for (int64_t row = 0; row < rows; ++row)
          for (int64_t c = c0; c < c1; ++c) o[c] += g[row * n + c];
      });
    });
  } else {
    gw = torch::zeros({n, n}, inputs.options());
  }
  result.push_back(gw);
  result.push_back(gb);
  return result;
}

template <class F>
void def_family(pybind11::module& m) {
  const std::string name = F::name;
  m.def((name + "_recurrent_forward").c_str(), &recurrent_forward<F>);
  m.def((name + "_recurrent_backward").c_str(), &recurrent_backward<F>);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
#define AXONAL_RECURRENT_DEF(F) def_family<F>(m);
  AXONAL_FUSED_FAMILIES(AXONAL_RECURRENT_DEF)
#undef AXONAL_RECURRENT_DEF
  m.def("recurrent_families", [] {
    std::vector<std::string> names;
#define AXONAL_RECURRENT_NAME(F) names.push_back(F::name);
    AXONAL_FUSED_FAMILIES(AXONAL_RECURRENT_NAME)
#undef AXONAL_RECURRENT_NAME
    return names;
  }, "the families with a fused recurrent kernel");
}
