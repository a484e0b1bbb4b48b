// Spike-indexed accumulation on CPU (axonal.nn.event): event-driven linear layers and a whole
// event-driven network (linear layers alternating with LIF / LI populations).
//
// spike_linear: for each row of x [R, K] the non-zero inputs are found by one scan of the row
// and only their weight rows (rows of weight_t [K, M], contiguous) are added into the output
// row, which starts from the bias. Inputs must be exactly 0, 1 or -1 (anything else, inf and
// nan included, makes the call return ok = false and the caller runs the dense product).
// Events are added four weight rows at a time in ascending input order (the +1 events, then
// the -1 events subtracted), so each output element is the same left-to-right sum as adding
// them one by one (blocking only saves loads and stores of the output row). A vector compare
// per 16 floats (AVX-512; 8 with AVX2) finds the non-zero inputs of a row.
//
// event_network: layer by layer over the whole [T, B] sequence: the event-driven accumulation
// above gives the input current of every step, then the neuron update runs over time. The
// neuron arithmetic is the shared neuron math of ../csrc/neuron_math.h (lif_membrane,
// heaviside, reset, and Brian2's refractory gate for a LIF population with t_ref > 0: the
// expression order of axonal.functional.neurons; the build turns floating-point contraction
// off), so given the same currents the spikes, membranes and refractory times equal the
// reference step functions.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "../csrc/neuron_math.h"

namespace {

#define RESTRICT __restrict__

// Neuron kinds of event_network: a LIF population's kind is its reset code (AXONAL_RESET_*,
// ResetMode.code), an LI population's AXONAL_EVENT_LI (../csrc/codes.h).
constexpr int64_t LI = AXONAL_EVENT_LI;

// out[0:m] (+|-)= w[i][0:m] for the n rows listed in idx, four at a time, in list order.
template <typename T, bool NEG>
inline void add_rows(T* RESTRICT out, const T* RESTRICT w, const int64_t* idx, int64_t n, int64_t m) {
  int64_t e = 0;
  for (; e + 4 <= n; e += 4) {
    const T* RESTRICT a = w + idx[e] * m;
    const T* RESTRICT b = w + idx[e + 1] * m;
    const T* RESTRICT c = w + idx[e + 2] * m;
    const T* RESTRICT d = w + idx[e + 3] * m;
    for (int64_t j = 0; j < m; ++j) {
      if constexpr (NEG) {
        out[j] = out[j] - a[j] - b[j] - c[j] - d[j];
      } else {
        out[j] = out[j] + a[j] + b[j] + c[j] + d[j];
      }
    }
  }
  for (; e < n; ++e) {
    const T* RESTRICT a = w + idx[e] * m;
    for (int64_t j = 0; j < m; ++j) {
      if constexpr (NEG) {
        out[j] = out[j] - a[j];
      } else {
        out[j] = out[j] + a[j];
      }
    }
  }
}

// Sorts one non-zero input: index i into pos (value 1) or neg (value -1); false otherwise.
template <typename T>
inline bool take_event(T v, int64_t i, int64_t* pos, int64_t& np, int64_t* neg, int64_t& nn) {
  if (v == T(1)) {
    pos[np++] = i;
  } else if (v == T(-1)) {
    neg[nn++] = i;
  } else {
    return false;
  }
  return true;
}

// The indices of the non-zero elements of xr[0:k], ascending, split by sign into pos / neg
// (np, nn: their counts). False at the first element that is not 0, 1 or -1 (nan included:
// it compares unequal to zero). Vector compares give a bit mask of the non-zeros per block,
// so the scan costs about one instruction per 16 floats plus the events.
template <typename T>
bool find_events(const T* RESTRICT xr, int64_t k, int64_t* pos, int64_t& np, int64_t* neg, int64_t& nn) {
  np = 0;
  nn = 0;
  int64_t i = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const __m512 zero = _mm512_setzero_ps();
    for (; i + 16 <= k; i += 16) {
      unsigned mask = _mm512_cmp_ps_mask(_mm512_loadu_ps(xr + i), zero, _CMP_NEQ_UQ);
      for (; mask != 0; mask &= mask - 1) {
        const int64_t e = i + __builtin_ctz(mask);
        if (!take_event(xr[e], e, pos, np, neg, nn)) return false;
      }
    }
  } else {
    const __m512d zero = _mm512_setzero_pd();
    for (; i + 8 <= k; i += 8) {
      unsigned mask = _mm512_cmp_pd_mask(_mm512_loadu_pd(xr + i), zero, _CMP_NEQ_UQ);
      for (; mask != 0; mask &= mask - 1) {
        const int64_t e = i + __builtin_ctz(mask);
        if (!take_event(xr[e], e, pos, np, neg, nn)) return false;
      }
    }
  }
#elif defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    const __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= k; i += 8) {
      unsigned mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(xr + i), zero, _CMP_NEQ_UQ));
      for (; mask != 0; mask &= mask - 1) {
        const int64_t e = i + __builtin_ctz(mask);
        if (!take_event(xr[e], e, pos, np, neg, nn)) return false;
      }
    }
  } else {
    const __m256d zero = _mm256_setzero_pd();
    for (; i + 4 <= k; i += 4) {
      unsigned mask = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(xr + i), zero, _CMP_NEQ_UQ));
      for (; mask != 0; mask &= mask - 1) {
        const int64_t e = i + __builtin_ctz(mask);
        if (!take_event(xr[e], e, pos, np, neg, nn)) return false;
      }
    }
  }
#endif
  for (; i < k; ++i) {
    if (xr[i] != T(0) && !take_event(xr[i], i, pos, np, neg, nn)) return false;
  }
  return true;
}

// Rows [begin, end) of x [R, K] times weight_t [K, M] (+ bias) into out [R, M]. Returns
// false at the first element that is not 0, 1 or -1. pos / neg: scratch of K indices each.
template <typename T>
bool accumulate_rows(const T* x, const T* w, const T* bias, T* out, int64_t begin, int64_t end,
                     int64_t k, int64_t m, std::vector<int64_t>& pos, std::vector<int64_t>& neg) {
  pos.resize(k);
  neg.resize(k);
  for (int64_t row = begin; row < end; ++row) {
    int64_t np = 0, nn = 0;
    if (!find_events<T>(x + row * k, k, pos.data(), np, neg.data(), nn)) return false;
    T* RESTRICT o = out + row * m;
    if (bias != nullptr) {
      std::copy(bias, bias + m, o);
    } else {
      std::fill(o, o + m, T(0));
    }
    add_rows<T, false>(o, w, pos.data(), np, m);
    add_rows<T, true>(o, w, neg.data(), nn, m);
  }
  return true;
}

// The whole x [R, K] in parallel over rows; false if any element is not a spike.
template <typename T>
bool accumulate(const T* x, const T* w, const T* bias, T* out, int64_t r, int64_t k, int64_t m) {
  std::atomic<bool> ok{true};
  // a grain of rows worth roughly 64k elements of scanning and adding
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, k + m));
  at::parallel_for(0, r, grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> pos, neg;
    if (ok.load(std::memory_order_relaxed) &&
        !accumulate_rows<T>(x, w, bias, out, begin, end, k, m, pos, neg)) {
      ok.store(false, std::memory_order_relaxed);
    }
  });
  return ok.load();
}

void check_cpu_contiguous(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// (out [R, M], ok): x [R, K] @ weight_t [K, M] + bias, reading only the rows of the events.
std::tuple<at::Tensor, bool> spike_linear(const at::Tensor& x, const at::Tensor& weight_t,
                                          const c10::optional<at::Tensor>& bias) {
  check_cpu_contiguous(x, "x");
  check_cpu_contiguous(weight_t, "weight_t");
  TORCH_CHECK(x.dim() == 2 && weight_t.dim() == 2 && x.size(1) == weight_t.size(0),
              "x must be [R, K] and weight_t [K, M]");
  TORCH_CHECK(x.scalar_type() == weight_t.scalar_type(), "x and weight_t must share a dtype");
  const int64_t r = x.size(0), k = x.size(1), m = weight_t.size(1);
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias) {
    check_cpu_contiguous(*bias, "bias");
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == m && bias->scalar_type() == x.scalar_type(),
                "bias must be [M] with the dtype of x");
  }
  at::Tensor out = at::empty({r, m}, weight_t.options());
  bool ok = true;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spike_linear", [&] {
    ok = accumulate<scalar_t>(x.data_ptr<scalar_t>(), weight_t.data_ptr<scalar_t>(),
                              has_bias ? bias->data_ptr<scalar_t>() : nullptr,
                              out.data_ptr<scalar_t>(), r, k, m);
  });
  return {out, ok};
}

// Brian2's refractory period of a LIF population (t_ref > 0): the gate's constants in the
// kernel's type, each rounded once from the double it receives (as torch rounds a Python float
// operand to a float32 tensor's type); ref_limit is refractory_limit(dt), computed in Python.
template <typename T>
struct Gate {
  T dt, ref_limit, t_ref;
  Gate(double dt_, double t_ref_, double ref_limit_)
      : dt(T(dt_)), ref_limit(T(ref_limit_)), t_ref(T(t_ref_)) {}
};

// One population over time. cur [T*B, N] (time-major rows) is the input current; v [B, N] the
// membrane, updated in place (with REF also rf [B, N], the remaining refractory time); out
// [T*B, N] receives spikes (LIF) or the membrane (LI). coef [6, N]: decay exp(-dt/tau_mem),
// v_leak, r, v_th, v_reset, v_th - v_reset (rounded once from the parameters, as the reference
// does). Parallel over neurons.
template <typename T, int64_t KIND, bool REF>
inline void neuron_block(const T* RESTRICT x, T* RESTRICT v, T* RESTRICT rf, T* RESTRICT o,
                         const T* RESTRICT decay, const T* RESTRICT v_leak, const T* RESTRICT r,
                         const T* RESTRICT v_th, const T* RESTRICT v_reset,
                         const T* RESTRICT gap, int64_t begin, int64_t end, const Gate<T>& gate) {
  for (int64_t j = begin; j < end; ++j) {
    T vn = axonal_lif_membrane(v[j], x[j], v_leak[j], r[j], decay[j]);
    if constexpr (KIND == LI) {
      o[j] = vn;
      v[j] = vn;
    } else if constexpr (REF) {  // lif_step's refractory_gate: held, and silent, while closed
      const T rem = axonal_refractory_remaining(rf[j], gate.dt);
      const int open = axonal_refractory_active(rem, gate.ref_limit);
      vn = open ? vn : v[j];
      const T z = open ? axonal_heaviside(vn - v_th[j]) : T(0);
      o[j] = z;
      v[j] = axonal_reset(vn, z, gap[j], v_reset[j], static_cast<int>(KIND));
      rf[j] = axonal_refractory_after(z, gate.t_ref, rem);
    } else {
      const T z = axonal_heaviside(vn - v_th[j]);
      o[j] = z;
      v[j] = axonal_reset(vn, z, gap[j], v_reset[j], static_cast<int>(KIND));
    }
  }
}

template <typename T, int64_t KIND, bool REF>
void neuron_run(const T* cur, T* v, T* rf, T* out, const T* coef, int64_t steps, int64_t batch,
                int64_t n, const Gate<T>& gate) {
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t t = 0; t < steps; ++t) {
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t row = (t * batch + b) * n;
        neuron_block<T, KIND, REF>(cur + row, v + b * n, REF ? rf + b * n : nullptr, out + row,
                                   coef, coef + n, coef + 2 * n, coef + 3 * n, coef + 4 * n,
                                   coef + 5 * n, begin, end, gate);
      }
    }
  });
}

// Runs neuron_run<T, K, REF> for K == kind, K in 0 .. LI (the reset codes, then LI).
template <typename T, bool REF, int64_t... K>
void neuron_dispatch_in(const T* cur, T* v, T* rf, T* out, const T* coef, int64_t kind,
                        int64_t steps, int64_t batch, int64_t n, const Gate<T>& gate,
                        std::integer_sequence<int64_t, K...>) {
  (void)((kind == K ? (neuron_run<T, K, REF>(cur, v, rf, out, coef, steps, batch, n, gate), true)
                    : false) ||
         ...);
}

template <typename T>
void neuron_dispatch(const T* cur, T* v, T* rf, T* out, const T* coef, int64_t kind,
                     int64_t steps, int64_t batch, int64_t n, const Gate<T>& gate, bool ref) {
  if (ref) {
    neuron_dispatch_in<T, true>(cur, v, rf, out, coef, kind, steps, batch, n, gate,
                                std::make_integer_sequence<int64_t, LI>());  // LIF kinds only
  } else {
    neuron_dispatch_in<T, false>(cur, v, rf, out, coef, kind, steps, batch, n, gate,
                                 std::make_integer_sequence<int64_t, LI + 1>());
  }
}

// A fresh [B, N] copy of an initial state (read only) or, for None, `rest` everywhere.
at::Tensor initial_copy(const c10::optional<at::Tensor>& given, const at::Tensor& rest,
                        int64_t batch, int64_t n, const at::TensorOptions& options, size_t l,
                        const char* what) {
  at::Tensor out = at::empty({batch, n}, options);
  if (given.has_value() && given->defined()) {
    const at::Tensor& v0 = *given;
    TORCH_CHECK(v0.dim() == 2 && v0.size(0) == batch && v0.size(1) == n &&
                    v0.scalar_type() == options.dtype().toScalarType(),
                "layer ", l, ": ", what, " must be [B, N] with the dtype of x");
    out.copy_(v0);
  } else {
    out.copy_(rest.unsqueeze(0).expand({batch, n}));
  }
  return out;
}

// A network of layers (linear, population)_l over x [T, B, K0]. Per layer: weights_t[l]
// [K_l, N_l], biases[l] ([N_l] or None), coefs[l] [6, N_l], kinds[l], states[l]: the initial
// membrane [B, N_l] (read only) or None for rest (v = v_leak), refractory[l]: the initial
// remaining refractory time [B, N_l] (read only) or None for none, t_refs[l] (s; > 0 only for a
// LIF population with a refractory period), dts[l] (s) and ref_limits[l] (refractory_limit(dt),
// s). Returns (out [T, B, N_last], final
// membranes [B, N_l], final refractory times [B, N_l] (None where t_ref = 0: the state passes
// through), ok); ok is false (and the rest empty) when x is not all spikes, which the first
// layer's scan finds (the hidden layers' inputs are LIF spikes, 0 or 1).
std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>, bool> event_network(
    const at::Tensor& x, const std::vector<at::Tensor>& weights_t,
    const std::vector<c10::optional<at::Tensor>>& biases, const std::vector<at::Tensor>& coefs,
    const std::vector<int64_t>& kinds, const std::vector<c10::optional<at::Tensor>>& states,
    const std::vector<c10::optional<at::Tensor>>& refractory, const std::vector<double>& t_refs,
    const std::vector<double>& dts, const std::vector<double>& ref_limits) {
  const size_t layers = weights_t.size();
  TORCH_CHECK(layers > 0 && biases.size() == layers && coefs.size() == layers &&
                  kinds.size() == layers && states.size() == layers &&
                  refractory.size() == layers && t_refs.size() == layers && dts.size() == layers &&
                  ref_limits.size() == layers,
              "one weight, bias, coefficient set, kind, state, refractory state, t_ref, dt and "
              "ref_limit per layer");
  check_cpu_contiguous(x, "x");
  TORCH_CHECK(x.dim() == 3, "x must be [T, B, K]");
  const int64_t steps = x.size(0), batch = x.size(1);
  at::Tensor input = x.reshape({steps * batch, x.size(2)});
  std::vector<at::Tensor> finals, finals_ref;
  for (size_t l = 0; l < layers; ++l) {
    const at::Tensor& w = weights_t[l];
    const at::Tensor& coef = coefs[l];
    check_cpu_contiguous(w, "weight_t");
    check_cpu_contiguous(coef, "coef");
    TORCH_CHECK(w.dim() == 2 && w.size(0) == input.size(1), "layer ", l, ": weight_t must be [K, N] with K its input size");
    const int64_t n = w.size(1);
    TORCH_CHECK(coef.dim() == 2 && coef.size(0) == 6 && coef.size(1) == n, "layer ", l, ": coef must be [6, N]");
    TORCH_CHECK(kinds[l] >= 0 && kinds[l] <= LI, "layer ", l, ": unknown neuron kind ", kinds[l]);
    TORCH_CHECK(kinds[l] != LI || l + 1 == layers, "an LI population can only be the last layer");
    TORCH_CHECK(w.scalar_type() == x.scalar_type() && coef.scalar_type() == x.scalar_type(),
                "layer ", l, ": weight_t and coef must have the dtype of x");
    TORCH_CHECK(t_refs[l] >= 0 && (t_refs[l] == 0 || kinds[l] != LI) && dts[l] > 0, "layer ", l,
                ": t_ref must be >= 0 (0 for an LI population) and dt > 0");
    const bool ref = t_refs[l] > 0;
    const bool has_bias = biases[l].has_value() && biases[l]->defined();
    if (has_bias) {
      check_cpu_contiguous(*biases[l], "bias");
      TORCH_CHECK(biases[l]->numel() == n && biases[l]->scalar_type() == x.scalar_type(),
                  "layer ", l, ": bias must be [N] with the dtype of x");
    }
    // fresh copies: updated in place
    at::Tensor v = initial_copy(states[l], coef.select(0, 1), batch, n, w.options(), l, "state");
    at::Tensor rf = ref ? initial_copy(refractory[l], at::zeros({n}, w.options()), batch, n,
                                       w.options(), l, "refractory state")
                        : at::Tensor();
    at::Tensor cur = at::empty({steps * batch, n}, w.options());
    at::Tensor out = at::empty({steps * batch, n}, w.options());
    bool ok = true;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "event_network", [&] {
      ok = accumulate<scalar_t>(input.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                                has_bias ? biases[l]->data_ptr<scalar_t>() : nullptr,
                                cur.data_ptr<scalar_t>(), steps * batch, input.size(1), n);
      if (ok) {
        neuron_dispatch<scalar_t>(cur.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                                  ref ? rf.data_ptr<scalar_t>() : nullptr,
                                  out.data_ptr<scalar_t>(), coef.data_ptr<scalar_t>(), kinds[l],
                                  steps, batch, n, Gate<scalar_t>(dts[l], t_refs[l], ref_limits[l]), ref);
      }
    });
    if (!ok) return {at::Tensor(), {}, {}, false};
    finals.push_back(v);
    finals_ref.push_back(rf);
    input = out;
  }
  return {input.reshape({steps, batch, input.size(1)}), finals, finals_ref, true};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "axonal: spike-indexed accumulation (event-driven linear layers and networks)";
  m.def("spike_linear", &spike_linear, "x [R, K] @ weight_t [K, M] + bias for spike x; (out, ok)");
  m.def("event_network", &event_network,
        "event-driven (linear, LIF / LI) layers over x [T, B, K]; (out, final membranes, final "
        "refractory times, ok)");
}
