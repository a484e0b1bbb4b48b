// Fused multi-step kernels for the linear LIF families on CPU (axonal.kernels).
//
// Forward: the whole time loop runs here, parallel over neurons (batch x features flattened
// to N), sequential over T. Kept for the backward pass: the spikes as uint8 and, every `seg`
// steps, a checkpoint of the state ([S, N] per state variable, S = ceil(T / seg)).
// Backward: per block of BWD_BLK neurons, segment by segment from the last, the state is
// recomputed forward from the segment's checkpoint (input and spikes) into a seg x BWD_BLK
// scratch buffer, then swept in reverse while the segment's input is still in cache. No
// T x N float state is stored, and the input is read once from memory in the backward pass.
//
// Refractory period (t_ref > 0, Brian2's rule as axonal.functional.neurons.refractory): every
// family's last state is the remaining refractory time. With t_ref > 0 the kernels are the
// REF specialisations: the countdown is carried and checkpointed like the other states, the
// membrane is held (and no spike fires) while the gate is closed, the synaptic current or the
// adaptation keep evolving, and the backward sweep is the gradient of exactly that. With
// t_ref = 0 the specialisations without it run (the countdown is copied through, untouched).
//
// One generic driver (forward_block, backward_block, the op wrappers fused_forward and
// fused_backward) runs every family; a family is a traits struct (its states, coefficients,
// differentiable coefficients, and one neuron's step forward and backward). Its arithmetic is
// the shared neuron math of ../csrc/neuron_math.h, which mirrors axonal.functional.neurons
// (same expression order; the build turns floating-point contraction off), so the forward pass
// is bit-identical to the reference. A new fused family is one more traits struct, added to
// the list at the end of this file, plus its FusedFamily entry in kernels/ops.py.
//
// Threads: every neuron's forward and backward (its coefficient gradients summed over time
// included) runs in one thread, in the same order whatever the split, so the results do not
// depend on the thread count; sum_rows gives the adapter a reduction over the batch with the
// same property.
//
// Non-finite values: the forward reports (it does not raise) which of x, the initial states
// and the coefficients hold inf or nan; it checks the states and coefficients in its first
// pass over them and x while it reads it. kernels/ops.py raises NonFiniteError naming them.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/accumulate.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../csrc/neuron_math.h"

namespace {

constexpr int64_t GRAIN = 64;     // grain of the parallel split over neurons
constexpr int64_t BWD_BLK = 512;  // neurons per backward block (scratch: seg x BWD_BLK)

#define RESTRICT __restrict__

// Non-zero when v is inf or nan (an integer OR-reduction of this vectorises, unlike a float sum).
template <typename T>
inline int nonfinite(T v) {
  return !(std::abs(v) <= std::numeric_limits<T>::max());
}

inline int64_t n_segments(int64_t Tn, int64_t seg) { return (Tn + seg - 1) / seg; }

// The output gradient as rows of N with a row stride: a gradient broadcast over time (the
// backward of a sum, say) is read from one materialised row (stride 0) instead of T copies.
std::pair<torch::Tensor, int64_t> grad_rows(const torch::Tensor& g) {
  TORCH_CHECK(g.dim() == 2, "grad_out must be [T, N]");
  if (g.size(0) > 1 && g.stride(0) == 0) return {g.select(0, 0).contiguous(), 0};
  return {g.contiguous(), g.size(1)};
}

template <typename T>
T* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Calls f(std::integral_constant<int, C>()) for the code C == code of 0 .. N-1 (the generated
// codes of ../csrc/codes.h are 0 .. COUNT-1), so that f's body is compiled once per code.
template <typename F, int... C>
void dispatch_code(int64_t code, const char* what, F&& f, std::integer_sequence<int, C...>) {
  TORCH_CHECK(code >= 0 && code < static_cast<int64_t>(sizeof...(C)), "unknown ", what,
              " code ", code);
  (void)((code == C ? (f(std::integral_constant<int, C>()), true) : false) || ...);
}

template <typename F>
void dispatch_reset(int64_t code, F&& f) {
  dispatch_code(code, "reset", f, std::make_integer_sequence<int, AXONAL_RESET_COUNT>());
}

template <typename F>
void dispatch_surrogate(int64_t code, F&& f) {
  dispatch_code(code, "surrogate", f, std::make_integer_sequence<int, AXONAL_SURROGATE_COUNT>());
}

// ------------------------------------------------------------------------ buffer cache
// The [T, N] outputs (spikes, spike bytes, checkpoints, input gradients) are allocated every
// step with the same sizes. From glibc, a freed block of that size (tens of MB) goes back to
// the OS and the next step writes into freshly mapped pages (benchmarks/bench_cache.py: the
// onb n=512 step 1.16-1.24x the floor without, 1.09-1.13x with the cache). These buffers are
// kept instead, like a caching GPU
// allocator: a freed one waits in the cache (at most `limit` bytes in all) for the next
// request it fits (at most 1/8 larger). Smaller tensors go through torch's allocator.
class BufferCache {
 public:
  static BufferCache& instance() {
    static BufferCache* cache = new BufferCache();  // never destroyed: deleters may run late
    return *cache;
  }
  void* take(size_t bytes, size_t& size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 8) {
        size = it->first;
        void* p = it->second;
        cached_ -= size;
        free_.erase(it);
        return p;
      }
    }
    size = bytes;
    return c10::alloc_cpu(bytes);
  }
  void give(void* p, size_t size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + size <= limit_) {
        free_.emplace(size, p);
        cached_ += size;
        return;
      }
    }
    c10::free_cpu(p);
  }
  // Frees every cached buffer; returns the bytes released.
  int64_t clear() {
    std::multimap<size_t, void*> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      old.swap(free_);
      cached_ = 0;
    }
    int64_t released = 0;
    for (auto& kv : old) {
      released += static_cast<int64_t>(kv.first);
      c10::free_cpu(kv.second);
    }
    return released;
  }
  void set_limit(size_t limit) {
    { std::lock_guard<std::mutex> lock(mu_); limit_ = limit; }
    if (limit == 0) clear();
  }
  int64_t cached() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(cached_);
  }

 private:
  BufferCache() {
    const char* mb = std::getenv("AXONAL_CPU_CACHE_MB");
    limit_ = (mb ? static_cast<size_t>(std::max(0LL, std::atoll(mb))) : size_t(1024)) << 20;
  }
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
  size_t limit_ = 0;
};

constexpr size_t CACHE_MIN_BYTES = size_t(1) << 20;

// torch::empty for the kernels' large outputs, served from the BufferCache.
torch::Tensor cached_empty(at::IntArrayRef sizes, const torch::TensorOptions& options) {
  const size_t bytes = static_cast<size_t>(c10::multiply_integers(sizes)) * c10::elementSize(
      c10::typeMetaToScalarType(options.dtype()));
  if (bytes < CACHE_MIN_BYTES) return torch::empty(sizes, options);
  size_t size = 0;
  void* p = BufferCache::instance().take(bytes, size);
  return torch::from_blob(p, sizes, [size](void* q) { BufferCache::instance().give(q, size); },
                          options);
}

int64_t cache_clear() { return BufferCache::instance().clear(); }
int64_t cache_bytes() { return BufferCache::instance().cached(); }
void cache_set_limit(int64_t bytes) {
  TORCH_CHECK(bytes >= 0, "the cache limit must be >= 0 bytes, got ", bytes);
  BufferCache::instance().set_limit(static_cast<size_t>(bytes));
}

// ------------------------------------------------------------------------------ families

// The spike of membrane v against threshold thr (REPLAY: the saved spike z_saved instead; not
// open, i.e. refractory: none) and the reset of v in place; returns the spike.
template <typename T, int RESET, bool REPLAY>
inline T fire_and_reset(T& v, T thr, T v_reset, T z_saved, bool open) {
  const T z = REPLAY ? z_saved : (open ? axonal_heaviside(v - thr) : T(0));
  v = axonal_reset(v, z, thr - v_reset, v_reset, RESET);
  return z;
}

// Backward through Brian2's gate around a family's membrane update and spike (the membrane
// v = open ? v_new : v_old): from dL/dv (g, the spike and reset already taken back: gv), gives
// the gradient that reaches v_new (to the membrane update) and, through gv_old, the part that
// goes straight to v_old while refractory. Without REF the gate is always open.
template <typename T, bool REF>
inline T gate_backward(T gv, bool open) {
  if constexpr (REF) return open ? gv : T(0);
  return gv;
}

template <typename T, bool REF>
inline T gate_merge(T g_from_update, T gv, bool open) {
  if constexpr (REF) return open ? g_from_update : gv;
  return g_from_update;
}

// A family: S state variables besides the refractory countdown, P per-neuron coefficients (the
// op's parameter tensors, in order), G of them differentiable (first their indices in GRAD, in
// the order the backward returns their gradients). step() advances one neuron by one step in
// place and returns its spike (REPLAY: the spike is the saved z, not recomputed); with REF
// (t_ref > 0) `open` says whether Brian2's gate lets the membrane integrate and fire this step
// (the driver runs the countdown, s[S]). backward() takes dL/d(state after) in gs, returns
// dL/d(state before) in gs, adds the coefficients' gradients to ga and returns dL/dx. s, p,
// gs, ga are small arrays the driver keeps in registers.

struct Lif {
  static constexpr const char* name = "lif";
  enum { ALPHA, V_TH, V_LEAK, R, V_RESET, P };  // coefficients
  static constexpr int S = 1;                   // state: v (then the refractory countdown)
  static constexpr int G = 2;                   // gradients: alpha, v_th
  enum { G_ALPHA, G_V_TH };

  template <typename T, int RESET, bool REPLAY, bool REF>
  static inline T step(T* s, T x, const T* p, T z_saved, bool open) {
    const T v_new = axonal_lif_membrane(s[0], x, p[V_LEAK], p[R], p[ALPHA]);
    s[0] = REF ? (open ? v_new : s[0]) : v_new;
    return fire_and_reset<T, RESET, REPLAY>(s[0], p[V_TH], p[V_RESET], z_saved, open);
  }

  template <typename T, int RESET, int KIND, bool REF>
  static inline T backward(T* gs, T* ga, const T* s, T x, T z, T g_out, const T* p, T attached,
                           T k, bool open) {
    const T v_inf = axonal_steady_state(x, p[V_LEAK], p[R]);
    const T vp = axonal_relax(s[0], v_inf, p[ALPHA]);
    T g_th, gx;
    T gv = axonal_fire_reset_backward(gs[0], g_out, z, p[V_TH], p[V_RESET], vp, attached, k,
                                      RESET, KIND, g_th);
    if constexpr (REF) {  // refractory: z = 0, no surrogate; the reset passes gs[0] through
      gv = open ? gv : gs[0];
      g_th = open ? g_th : T(0);
    }
    ga[G_V_TH] += g_th;
    const T g_old = axonal_lif_membrane_backward(gate_backward<T, REF>(gv, open), s[0] - v_inf,
                                                 p[ALPHA], p[R], gx, ga[G_ALPHA]);
    gs[0] = gate_merge<T, REF>(g_old, gv, open);
    return gx;
  }
};

struct Alif {
  static constexpr const char* name = "alif";
  enum { ALPHA, ALPHA_ADAPT, V_TH, V_LEAK, R, V_RESET, DELTA_TH, P };
  static constexpr int S = 2;  // v, a (then the refractory countdown)
  static constexpr int G = 4;  // alpha, alpha_adapt, v_th, delta_th
  enum { G_ALPHA, G_ALPHA_ADAPT, G_V_TH, G_DELTA_TH };

  template <typename T, int RESET, bool REPLAY, bool REF>
  static inline T step(T* s, T x, const T* p, T z_saved, bool open) {
    const T v_new = axonal_lif_membrane(s[0], x, p[V_LEAK], p[R], p[ALPHA]);
    s[0] = REF ? (open ? v_new : s[0]) : v_new;
    const T ad = axonal_alif_decay_adapt(s[1], p[ALPHA_ADAPT]);
    const T z = fire_and_reset<T, RESET, REPLAY>(s[0], axonal_alif_threshold(p[V_TH], ad),
                                                 p[V_RESET], z_saved, open);
    s[1] = axonal_alif_adapt_after(ad, p[DELTA_TH], z);
    return z;
  }

  template <typename T, int RESET, int KIND, bool REF>
  static inline T backward(T* gs, T* ga, const T* s, T x, T z, T g_out, const T* p, T attached,
                           T k, bool open) {
    const T v_inf = axonal_steady_state(x, p[V_LEAK], p[R]);
    const T vp = axonal_relax(s[0], v_inf, p[ALPHA]);
    const T ad = axonal_alif_decay_adapt(s[1], p[ALPHA_ADAPT]);
    const T thr = axonal_alif_threshold(p[V_TH], ad);
    const T gz = g_out + axonal_alif_adapt_after_backward(gs[1], z, p[DELTA_TH], ga[G_DELTA_TH]);
    T g_thr;
    T gv = axonal_fire_reset_backward(gs[0], gz, z, thr, p[V_RESET], vp, attached, k, RESET,
                                      KIND, g_thr);
    if constexpr (REF) {
      gv = open ? gv : gs[0];
      g_thr = open ? g_thr : T(0);
    }
    ga[G_V_TH] += g_thr;
    const T g_ad = gs[1] + g_thr;  // ad feeds the threshold and a_new = ad + delta z
    T gx;
    const T g_old = axonal_lif_membrane_backward(gate_backward<T, REF>(gv, open), s[0] - v_inf,
                                                 p[ALPHA], p[R], gx, ga[G_ALPHA]);
    gs[0] = gate_merge<T, REF>(g_old, gv, open);
    gs[1] = axonal_alif_decay_adapt_backward(g_ad, s[1], p[ALPHA_ADAPT], ga[G_ALPHA_ADAPT]);
    return gx;
  }
};

struct CubaLif {
  static constexpr const char* name = "cuba_lif";
  enum { ALPHA, ALPHA_SYN, KERNEL, V_TH, V_LEAK, R, V_RESET, P };
  static constexpr int S = 2;  // v, i (then the refractory countdown)
  static constexpr int G = 4;  // alpha, alpha_syn, kernel, v_th
  enum { G_ALPHA, G_ALPHA_SYN, G_KERNEL, G_V_TH };

  template <typename T, int RESET, bool REPLAY, bool REF>
  static inline T step(T* s, T x, const T* p, T z_saved, bool open) {
    const T v_new = axonal_cuba_membrane(s[0], s[1], x, p[V_LEAK], p[R], p[ALPHA], p[KERNEL]);
    s[0] = REF ? (open ? v_new : s[0]) : v_new;
    s[1] = axonal_cuba_current(s[1], x, p[ALPHA_SYN]);
    return fire_and_reset<T, RESET, REPLAY>(s[0], p[V_TH], p[V_RESET], z_saved, open);
  }

  template <typename T, int RESET, int KIND, bool REF>
  static inline T backward(T* gs, T* ga, const T* s, T x, T z, T g_out, const T* p, T attached,
                           T k, bool open) {
    const T v_inf = axonal_steady_state(x, p[V_LEAK], p[R]);
    const T vp = axonal_cuba_membrane(s[0], s[1], x, p[V_LEAK], p[R], p[ALPHA], p[KERNEL]);
    T g_th, gx;
    T gv = axonal_fire_reset_backward(gs[0], g_out, z, p[V_TH], p[V_RESET], vp, attached, k,
                                      RESET, KIND, g_th);
    if constexpr (REF) {
      gv = open ? gv : gs[0];
      g_th = open ? g_th : T(0);
    }
    ga[G_V_TH] += g_th;
    const T g_old = axonal_cuba_backward(gate_backward<T, REF>(gv, open), s[0] - v_inf, s[1] - x,
                                         p[ALPHA], p[ALPHA_SYN], p[KERNEL], p[R], gs[1], gx,
                                         ga[G_ALPHA], ga[G_ALPHA_SYN], ga[G_KERNEL]);
    gs[0] = gate_merge<T, REF>(g_old, gv, open);
    return gx;
  }
};

// ------------------------------------------------------------------------------- driver

// Brian2's refractory period (t_ref > 0: the REF specialisations): the constants of the gate
// in the kernel's type, each rounded once from the double the op receives, as torch rounds a
// Python float operand to a float32 tensor's type.
template <typename T>
struct Gate {
  T dt, half_dt, t_ref;
  Gate(double dt_, double t_ref_) : dt(T(dt_)), half_dt(T(0.5 * dt_)), t_ref(T(t_ref_)) {}
};

// Bits of the forward's non-finite report: bit 0 the input x, bit 1 + q initial state q (the
// refractory countdown last), bit 1 + SA + q coefficient q.
template <class F>
constexpr int64_t state_bit(int q) { return int64_t(1) << (1 + q); }
template <class F>
constexpr int64_t coef_bit(int q) { return int64_t(1) << (2 + F::S + q); }

// Forward over neurons [b, e): s0 / sT the S + 1 initial / final state arrays (sT doubles as the
// running state; the last is the refractory countdown, carried only with REF and copied through
// otherwise), prm the P coefficient arrays, ck [S + REF, n_segments, N]. The first pass copies
// the initial state and checks it and the coefficients; the time loop checks x. Returns the
// non-finite report (bits as above).
template <class F, typename T, int RESET, bool REF>
int64_t forward_block(const T* RESTRICT x, const std::array<const T*, F::S + 1>& s0,
                      const std::array<const T*, F::P>& prm, T* RESTRICT out,
                      const std::array<T*, F::S + 1>& sT, uint8_t* RESTRICT zs, T* RESTRICT ck,
                      int64_t seg, int64_t Tn, int64_t N, int64_t b, int64_t e,
                      const Gate<T>& gate) {
  constexpr int S = F::S, SA = S + 1, SC = S + (REF ? 1 : 0), P = F::P;
  const int64_t NS = n_segments(Tn, seg);
  // local copies: the uint8 stores below cannot alias them, so they stay in registers
  T* st[SA];
  const T* pp[P];
  for (int q = 0; q < SA; ++q) st[q] = sT[q];
  for (int q = 0; q < P; ++q) pp[q] = prm[q];
  int64_t report = 0;
  for (int q = 0; q < SA; ++q) {
    const T* RESTRICT from = s0[q];
    T* RESTRICT to = st[q];
    int bad = 0;
    for (int64_t i = b; i < e; ++i) {
      bad |= nonfinite(from[i]);
      to[i] = from[i];
    }
    if (bad) report |= state_bit<F>(q);
  }
  for (int q = 0; q < P; ++q) {
    const T* RESTRICT c = pp[q];
    int bad = 0;
    for (int64_t i = b; i < e; ++i) bad |= nonfinite(c[i]);
    if (bad) report |= coef_bit<F>(q);
  }
  int bad = 0;
  for (int64_t t = 0; t < Tn; ++t) {
    if (t % seg == 0) {
      for (int q = 0; q < SC; ++q) {
        T* RESTRICT c = ck + (q * NS + t / seg) * N;
        for (int64_t i = b; i < e; ++i) c[i] = st[q][i];
      }
    }
    const T* RESTRICT xt = x + t * N;
    T* RESTRICT ot = out + t * N;
    uint8_t* RESTRICT zt = zs + t * N;
#pragma GCC ivdep
    for (int64_t i = b; i < e; ++i) {
      T s[SC], p[P];
      for (int q = 0; q < SC; ++q) s[q] = st[q][i];
      for (int q = 0; q < P; ++q) p[q] = pp[q][i];
      bad |= nonfinite(xt[i]);
      T z;
      if constexpr (REF) {
        const T rem = axonal_refractory_remaining(s[S], gate.dt);
        z = F::template step<T, RESET, false, true>(s, xt[i], p, T(0),
                                                    axonal_refractory_open(rem, gate.half_dt));
        s[S] = axonal_refractory_after(z, gate.t_ref, rem);
      } else {
        z = F::template step<T, RESET, false, false>(s, xt[i], p, T(0), true);
      }
      for (int q = 0; q < SC; ++q) st[q][i] = s[q];
      ot[i] = z;
      zt[i] = static_cast<uint8_t>(z);
    }
  }
  return report | int64_t(bad);
}

// Backward over neurons [b, e) (see the top of the file): gsT the S + 1 output state gradients,
// gs0 / ga the S + 1 initial-state / G coefficient gradients it writes, gx [T, N]. Without REF
// the refractory countdown passed through the forward unchanged, and so does its gradient.
template <class F, typename T, int RESET, int KIND, bool REF>
void backward_block(const T* RESTRICT gout, int64_t gstride,
                    const std::array<const T*, F::S + 1>& gsT, const T* RESTRICT x,
                    const T* RESTRICT ck, const uint8_t* RESTRICT zs,
                    const std::array<const T*, F::P>& prm, T attached, T k, T* RESTRICT gx,
                    const std::array<T*, F::S + 1>& gs0, const std::array<T*, F::G>& gpar,
                    int64_t seg, int64_t Tn, int64_t N, int64_t b, int64_t e,
                    const Gate<T>& gate) {
  constexpr int S = F::S, SC = S + (REF ? 1 : 0), P = F::P, G = F::G;
  std::vector<T> buf((SC * seg + 2 * SC + G) * BWD_BLK);
  T* prev[SC];  // state before each step of the segment: prev[q] + (t - t0) * BWD_BLK
  T* run[SC];   // state while recomputing the segment
  T* gs[SC];    // dL/d(state)
  T* ga[G];     // dL/d(coefficient), summed over time
  for (int q = 0; q < SC; ++q) {
    prev[q] = buf.data() + q * seg * BWD_BLK;
    run[q] = buf.data() + (SC * seg + q) * BWD_BLK;
    gs[q] = buf.data() + (SC * seg + SC + q) * BWD_BLK;
  }
  for (int q = 0; q < G; ++q) ga[q] = buf.data() + (SC * seg + 2 * SC + q) * BWD_BLK;
  const int64_t NS = n_segments(Tn, seg);
  if constexpr (!REF) {
    for (int64_t i = b; i < e; ++i) gs0[S][i] = gsT[S][i];
  }
  for (int64_t b0 = b; b0 < e; b0 += BWD_BLK) {
    const int64_t n = std::min(BWD_BLK, e - b0);
    const T* pb[P];
    for (int q = 0; q < P; ++q) pb[q] = prm[q] + b0;
    for (int q = 0; q < SC; ++q)
      for (int64_t j = 0; j < n; ++j) gs[q][j] = gsT[q][b0 + j];
    for (int q = 0; q < G; ++q)
      for (int64_t j = 0; j < n; ++j) ga[q][j] = T(0);
    for (int64_t sgi = NS - 1; sgi >= 0; --sgi) {
      const int64_t t0 = sgi * seg, t1 = std::min(Tn, t0 + seg);
      for (int q = 0; q < SC; ++q) {
        const T* RESTRICT c = ck + (q * NS + sgi) * N + b0;
        for (int64_t j = 0; j < n; ++j) run[q][j] = c[j];
      }
      for (int64_t t = t0; t < t1; ++t) {  // recompute the segment's states
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        const int64_t row = (t - t0) * BWD_BLK;
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) {
          T s[SC], p[P];
          for (int q = 0; q < SC; ++q) s[q] = prev[q][row + j] = run[q][j];
          for (int q = 0; q < P; ++q) p[q] = pb[q][j];
          const T z = T(zt[j]);
          if constexpr (REF) {
            const T rem = axonal_refractory_remaining(s[S], gate.dt);
            F::template step<T, RESET, true, true>(s, xt[j], p, z,
                                                   axonal_refractory_open(rem, gate.half_dt));
            s[S] = axonal_refractory_after(z, gate.t_ref, rem);
          } else {
            F::template step<T, RESET, true, false>(s, xt[j], p, z, true);
          }
          for (int q = 0; q < SC; ++q) run[q][j] = s[q];
        }
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        const T* RESTRICT got = gout + t * gstride + b0;
        T* RESTRICT gxt = gx + t * N + b0;
        const int64_t row = (t - t0) * BWD_BLK;
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) {
          T s[SC], p[P], g[SC], a[G];
          for (int q = 0; q < SC; ++q) {
            s[q] = prev[q][row + j];
            g[q] = gs[q][j];
          }
          for (int q = 0; q < P; ++q) p[q] = pb[q][j];
          for (int q = 0; q < G; ++q) a[q] = ga[q][j];
          const T z = T(zt[j]);
          if constexpr (REF) {
            const bool open = axonal_refractory_open(
                axonal_refractory_remaining(s[S], gate.dt), gate.half_dt);
            const T g_ref = axonal_refractory_backward(g[S], z, s[S], gate.dt);
            gxt[j] = F::template backward<T, RESET, KIND, true>(g, a, s, xt[j], z, got[j], p,
                                                                attached, k, open);
            g[S] = g_ref;
          } else {
            gxt[j] = F::template backward<T, RESET, KIND, false>(g, a, s, xt[j], z, got[j], p,
                                                                 attached, k, true);
          }
          for (int q = 0; q < SC; ++q) gs[q][j] = g[q];
          for (int q = 0; q < G; ++q) ga[q][j] = a[q];
        }
      }
    }
    for (int q = 0; q < SC; ++q)
      for (int64_t j = 0; j < n; ++j) gs0[q][b0 + j] = gs[q][j];
    for (int q = 0; q < G; ++q)
      for (int64_t j = 0; j < n; ++j) gpar[q][b0 + j] = ga[q][j];
  }
}

template <typename T, size_t M>
std::array<T*, M> ptrs(const torch::Tensor* t) {
  std::array<T*, M> out;
  for (size_t q = 0; q < M; ++q) out[q] = ptr<T>(t[q]);
  return out;
}

template <typename T, size_t M>
std::array<const T*, M> cptrs(const torch::Tensor* t) {
  std::array<const T*, M> out;
  for (size_t q = 0; q < M; ++q) out[q] = ptr<T>(t[q]);
  return out;
}

// Calls f(std::bool_constant<t_ref > 0>()): the refractory period's countdown is compiled in
// only where there is one, so t_ref = 0 runs the kernel without it.
template <typename F>
void dispatch_refractory(double t_ref, F&& f) {
  TORCH_CHECK(t_ref >= 0, "t_ref must be >= 0 s, got ", t_ref);
  if (t_ref > 0) {
    f(std::true_type());
  } else {
    f(std::false_type());
  }
}

// <family>_forward(x, *state0, refractory0, *coefficients, reset, seg, t_ref, dt) ->
// ((out, *state_T, refractory_T, z bytes, ckpt), non-finite report). The report is 0 when x,
// the initial state and the coefficients are finite, else its bits say which are not (see
// state_bit / coef_bit); the caller raises, naming them.
template <class F>
std::tuple<std::vector<torch::Tensor>, int64_t> fused_forward(
    const std::array<torch::Tensor, 2 + F::S + F::P>& a, int64_t reset, int64_t seg,
    double t_ref, double dt) {
  constexpr int SA = F::S + 1, P = F::P;
  const torch::Tensor& x = a[0];
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  TORCH_CHECK(seg > 0, "seg must be positive");
  TORCH_CHECK(dt > 0, "dt must be > 0 s, got ", dt);
  const int64_t Tn = x.size(0), N = x.size(1);
  for (size_t q = 1; q < a.size(); ++q) {
    TORCH_CHECK(a[q].dim() == 1 && a[q].size(0) == N && a[q].is_contiguous() &&
                    a[q].scalar_type() == x.scalar_type(),
                "state/parameter must be a contiguous [N] tensor with the dtype of x");
  }
  const torch::Tensor* state0 = a.data() + 1;
  const torch::Tensor* coef = state0 + SA;
  const int64_t carried = F::S + (t_ref > 0 ? 1 : 0);
  std::vector<torch::Tensor> result;
  result.push_back(cached_empty(x.sizes(), x.options()));
  for (int q = 0; q < SA; ++q) result.push_back(torch::empty_like(state0[q]));
  result.push_back(cached_empty({Tn, N}, x.options().dtype(torch::kUInt8)));
  result.push_back(cached_empty({carried, n_segments(Tn, seg), N}, x.options()));
  const torch::Tensor &out = result[0], &zs = result[1 + SA], &ck = result[2 + SA];
  std::atomic<int64_t> report{0};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), F::name, [&] {
    using T = scalar_t;
    const auto s0 = cptrs<T, SA>(state0);
    const auto prm = cptrs<T, P>(coef);
    const auto sT = ptrs<T, SA>(result.data() + 1);
    const Gate<T> gate(dt, t_ref);
    dispatch_refractory(t_ref, [&](auto ref) {
      constexpr bool REF = decltype(ref)::value;
      dispatch_reset(reset, [&](auto r) {
        constexpr int R = decltype(r)::value;
        at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
          const int64_t bits = forward_block<F, T, R, REF>(
              ptr<T>(x), s0, prm, ptr<T>(out), sT, zs.data_ptr<uint8_t>(), ptr<T>(ck), seg, Tn,
              N, b, e, gate);
          if (bits) report.fetch_or(bits);
        });
      });
    });
  });
  return {result, report.load()};
}

// <family>_backward(grad_out, *grad_state_T, grad_refractory_T, x, ckpt, z, *coefficients,
// reset, detach, kind, slope, seg, t_ref, dt) -> (grad_x, *grad_state0, grad_refractory0,
// *grad_coefficients)
template <class F>
std::vector<torch::Tensor> fused_backward(const std::array<torch::Tensor, 5 + F::S + F::P>& a,
                                          int64_t reset, bool detach, int64_t kind,
                                          double slope, int64_t seg, double t_ref, double dt) {
  constexpr int SA = F::S + 1, P = F::P, G = F::G;
  const torch::Tensor& x = a[1 + SA];
  const torch::Tensor &ck = a[2 + SA], &zs = a[3 + SA];
  const torch::Tensor* coef = a.data() + 4 + SA;
  const int64_t Tn = x.size(0), N = x.size(1);
  TORCH_CHECK(seg > 0 && dt > 0, "seg and dt must be positive");
  TORCH_CHECK(ck.dim() == 3 && ck.size(0) == F::S + (t_ref > 0 ? 1 : 0) &&
                  ck.size(1) == n_segments(Tn, seg) && ck.size(2) == N,
              "ckpt does not come from the forward with this seg and t_ref");
  const auto rows = grad_rows(a[0]);
  const torch::Tensor gout = rows.first;
  const int64_t gstride = rows.second;
  std::array<torch::Tensor, SA> gsT;
  for (int q = 0; q < SA; ++q) gsT[q] = a[1 + q].contiguous();
  std::vector<torch::Tensor> result;
  result.push_back(cached_empty(x.sizes(), x.options()));
  for (int q = 0; q < SA + G; ++q) result.push_back(torch::empty_like(coef[0]));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), F::name, [&] {
    using T = scalar_t;
    const auto g_in = cptrs<T, SA>(gsT.data());
    const auto prm = cptrs<T, P>(coef);
    const auto gs0 = ptrs<T, SA>(result.data() + 1);
    const auto gpar = ptrs<T, G>(result.data() + 1 + SA);
    const Gate<T> gate(dt, t_ref);
    dispatch_refractory(t_ref, [&](auto ref) {
      constexpr bool REF = decltype(ref)::value;
      dispatch_reset(reset, [&](auto r) {
        constexpr int R = decltype(r)::value;
        dispatch_surrogate(kind, [&](auto kd) {
          constexpr int KD = decltype(kd)::value;
          at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
            backward_block<F, T, R, KD, REF>(ptr<T>(gout), gstride, g_in, ptr<T>(x), ptr<T>(ck),
                                             zs.data_ptr<uint8_t>(), prm, T(detach ? 0 : 1),
                                             T(slope), ptr<T>(result[0]), gs0, gpar, seg, Tn, N,
                                             b, e, gate);
          });
        });
      });
    });
  });
  return result;
}

// The op wrappers with one tensor argument per tensor (the signatures kernels/ops.py calls).
template <size_t>
using TensorArg = torch::Tensor;

template <class F, class Fwd = std::make_index_sequence<2 + F::S + F::P>,
          class Bwd = std::make_index_sequence<5 + F::S + F::P>>
struct Bind;

template <class F, size_t... I, size_t... J>
struct Bind<F, std::index_sequence<I...>, std::index_sequence<J...>> {
  static std::tuple<std::vector<torch::Tensor>, int64_t> forward(TensorArg<I>... t,
                                                                  int64_t reset, int64_t seg,
                                                                  double t_ref, double dt) {
    return fused_forward<F>({std::move(t)...}, reset, seg, t_ref, dt);
  }
  static std::vector<torch::Tensor> backward(TensorArg<J>... t, int64_t reset, bool detach,
                                             int64_t kind, double slope, int64_t seg,
                                             double t_ref, double dt) {
    return fused_backward<F>({std::move(t)...}, reset, detach, kind, slope, seg, t_ref, dt);
  }
};

// (name, state count with the refractory countdown, coefficient count, gradient count)
using FamilySpec = std::tuple<std::string, int, int, int>;

template <class F>
FamilySpec def_family(pybind11::module& m) {
  m.def((std::string(F::name) + "_forward").c_str(), &Bind<F>::forward);
  m.def((std::string(F::name) + "_backward").c_str(), &Bind<F>::backward);
  return {F::name, F::S + 1, int(F::P), F::G};
}

// ------------------------------------------------------------------ deterministic reduction

constexpr int64_t SUM_CHUNK = 256;   // rows summed in order into one partial sum
constexpr int64_t SUM_COLS = 1024;   // columns per task

// g [R, K] summed over its rows, the same bits whatever the thread count: rows are summed in
// order within fixed chunks of SUM_CHUNK rows, the chunks' partial sums then in chunk order.
// (torch's sum splits a long reduction by the number of threads.) Used for the gradients of
// coefficients and states that the fused adapter broadcast over the batch.
torch::Tensor sum_rows(const torch::Tensor& g_in) {
  TORCH_CHECK(g_in.dim() == 2, "sum_rows takes a [R, K] tensor");
  const torch::Tensor g = g_in.contiguous();
  const int64_t R = g.size(0), K = g.size(1);
  const int64_t chunks = std::max<int64_t>(1, (R + SUM_CHUNK - 1) / SUM_CHUNK);
  const int64_t col_blocks = std::max<int64_t>(1, (K + SUM_COLS - 1) / SUM_COLS);
  torch::Tensor partial = torch::zeros({chunks, K}, g.options());
  torch::Tensor out = torch::zeros({K}, g.options());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "sum_rows", [&] {
    using T = scalar_t;
    const T* src = g.data_ptr<T>();
    T* part = partial.data_ptr<T>();
    at::parallel_for(0, chunks * col_blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t c = task / col_blocks, k0 = (task % col_blocks) * SUM_COLS;
        const int64_t k1 = std::min(K, k0 + SUM_COLS);
        T* RESTRICT acc = part + c * K;
        for (int64_t r = c * SUM_CHUNK; r < std::min(R, (c + 1) * SUM_CHUNK); ++r) {
          const T* RESTRICT row = src + r * K;
          for (int64_t k = k0; k < k1; ++k) acc[k] += row[k];
        }
      }
    });
    T* o = out.data_ptr<T>();
    for (int64_t c = 0; c < chunks; ++c) {
      const T* RESTRICT row = part + c * K;
      for (int64_t k = 0; k < K; ++k) o[k] += row[k];
    }
  });
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // every fused family: one traits struct above, listed here
  const std::vector<FamilySpec> families = {def_family<Lif>(m), def_family<Alif>(m),
                                            def_family<CubaLif>(m)};
  m.def("fused_families", [families] { return families; },
        "(name, state count, coefficient count, gradient count) of each fused family");
  m.def("sum_rows", &sum_rows,
        "g [R, K] summed over rows in a fixed order (independent of the thread count)");
  m.def("cache_clear", &cache_clear);
  m.def("cache_bytes", &cache_bytes);
  m.def("cache_set_limit", &cache_set_limit);
}
