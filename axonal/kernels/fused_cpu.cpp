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
// One generic driver (forward_block, backward_block, the op wrappers fused_forward and
// fused_backward) runs every family; a family is a traits struct (its states, coefficients,
// differentiable coefficients, and one neuron's step forward and backward). Its arithmetic is
// the shared neuron math of ../csrc/neuron_math.h, which mirrors axonal.functional.neurons
// (same expression order; the build turns floating-point contraction off), so the forward pass
// is bit-identical to the reference. A new fused family is one more traits struct, added to
// the list at the end of this file, plus its FusedFamily entry in kernels/ops.py.
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

constexpr const char* NONFINITE_MSG =
    "x contains inf or nan; it would poison the state and gradients";

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

// The spike of membrane v against threshold thr (REPLAY: the saved spike z_saved instead) and
// the reset of v in place; returns the spike.
template <typename T, int RESET, bool REPLAY>
inline T fire_and_reset(T& v, T thr, T v_reset, T z_saved) {
  const T z = REPLAY ? z_saved : axonal_heaviside(v - thr);
  v = axonal_reset(v, z, thr - v_reset, v_reset, RESET);
  return z;
}

// A family: S state variables, P per-neuron coefficients (the op's parameter tensors, in
// order), G of them differentiable (first their indices in GRAD, in the order the backward
// returns their gradients). step() advances one neuron by one step in place and returns its
// spike (REPLAY: the spike is the saved z, not recomputed); backward() takes dL/d(state after)
// in gs, returns dL/d(state before) in gs, adds the coefficients' gradients to ga and returns
// dL/dx. s, p, gs, ga are small arrays the driver keeps in registers.

struct Lif {
  static constexpr const char* name = "lif";
  enum { ALPHA, V_TH, V_LEAK, R, V_RESET, P };  // coefficients
  static constexpr int S = 1;                   // state: v
  static constexpr int G = 2;                   // gradients: alpha, v_th
  enum { G_ALPHA, G_V_TH };

  template <typename T, int RESET, bool REPLAY>
  static inline T step(T* s, T x, const T* p, T z_saved) {
    s[0] = axonal_lif_membrane(s[0], x, p[V_LEAK], p[R], p[ALPHA]);
    return fire_and_reset<T, RESET, REPLAY>(s[0], p[V_TH], p[V_RESET], z_saved);
  }

  template <typename T, int RESET, int KIND>
  static inline T backward(T* gs, T* ga, const T* s, T x, T z, T g_out, const T* p, T attached,
                           T k) {
    const T v_inf = axonal_steady_state(x, p[V_LEAK], p[R]);
    const T vp = axonal_relax(s[0], v_inf, p[ALPHA]);
    T g_th, gx;
    const T gv = axonal_fire_reset_backward(gs[0], g_out, z, p[V_TH], p[V_RESET], vp, attached, k,
                                            RESET, KIND, g_th);
    ga[G_V_TH] += g_th;
    gs[0] = axonal_lif_membrane_backward(gv, s[0] - v_inf, p[ALPHA], p[R], gx, ga[G_ALPHA]);
    return gx;
  }
};

struct Alif {
  static constexpr const char* name = "alif";
  enum { ALPHA, ALPHA_ADAPT, V_TH, V_LEAK, R, V_RESET, DELTA_TH, P };
  static constexpr int S = 2;  // v, a
  static constexpr int G = 4;  // alpha, alpha_adapt, v_th, delta_th
  enum { G_ALPHA, G_ALPHA_ADAPT, G_V_TH, G_DELTA_TH };

  template <typename T, int RESET, bool REPLAY>
  static inline T step(T* s, T x, const T* p, T z_saved) {
    s[0] = axonal_lif_membrane(s[0], x, p[V_LEAK], p[R], p[ALPHA]);
    const T ad = axonal_alif_decay_adapt(s[1], p[ALPHA_ADAPT]);
    const T z = fire_and_reset<T, RESET, REPLAY>(s[0], axonal_alif_threshold(p[V_TH], ad),
                                                 p[V_RESET], z_saved);
    s[1] = axonal_alif_adapt_after(ad, p[DELTA_TH], z);
    return z;
  }

  template <typename T, int RESET, int KIND>
  static inline T backward(T* gs, T* ga, const T* s, T x, T z, T g_out, const T* p, T attached,
                           T k) {
    const T v_inf = axonal_steady_state(x, p[V_LEAK], p[R]);
    const T vp = axonal_relax(s[0], v_inf, p[ALPHA]);
    const T ad = axonal_alif_decay_adapt(s[1], p[ALPHA_ADAPT]);
    const T thr = axonal_alif_threshold(p[V_TH], ad);
    const T gz = g_out + axonal_alif_adapt_after_backward(gs[1], z, p[DELTA_TH], ga[G_DELTA_TH]);
    T g_thr;
    const T gv = axonal_fire_reset_backward(gs[0], gz, z, thr, p[V_RESET], vp, attached, k, RESET,
                                            KIND, g_thr);
    ga[G_V_TH] += g_thr;
    const T g_ad = gs[1] + g_thr;  // ad feeds the threshold and a_new = ad + delta z
    T gx;
    gs[0] = axonal_lif_membrane_backward(gv, s[0] - v_inf, p[ALPHA], p[R], gx, ga[G_ALPHA]);
    gs[1] = axonal_alif_decay_adapt_backward(g_ad, s[1], p[ALPHA_ADAPT], ga[G_ALPHA_ADAPT]);
    return gx;
  }
};

struct CubaLif {
  static constexpr const char* name = "cuba_lif";
  enum { ALPHA, ALPHA_SYN, KERNEL, V_TH, V_LEAK, R, V_RESET, P };
  static constexpr int S = 2;  // v, i
  static constexpr int G = 4;  // alpha, alpha_syn, kernel, v_th
  enum { G_ALPHA, G_ALPHA_SYN, G_KERNEL, G_V_TH };

  template <typename T, int RESET, bool REPLAY>
  static inline T step(T* s, T x, const T* p, T z_saved) {
    s[0] = axonal_cuba_membrane(s[0], s[1], x, p[V_LEAK], p[R], p[ALPHA], p[KERNEL]);
    s[1] = axonal_cuba_current(s[1], x, p[ALPHA_SYN]);
    return fire_and_reset<T, RESET, REPLAY>(s[0], p[V_TH], p[V_RESET], z_saved);
  }

  template <typename T, int RESET, int KIND>
  static inline T backward(T* gs, T* ga, const T* s, T x, T z, T g_out, const T* p, T attached,
                           T k) {
    const T v_inf = axonal_steady_state(x, p[V_LEAK], p[R]);
    const T vp = axonal_cuba_membrane(s[0], s[1], x, p[V_LEAK], p[R], p[ALPHA], p[KERNEL]);
    T g_th, gx;
    const T gv = axonal_fire_reset_backward(gs[0], g_out, z, p[V_TH], p[V_RESET], vp, attached, k,
                                            RESET, KIND, g_th);
    ga[G_V_TH] += g_th;
    gs[0] = axonal_cuba_backward(gv, s[0] - v_inf, s[1] - x, p[ALPHA], p[ALPHA_SYN], p[KERNEL],
                                 p[R], gs[1], gx, ga[G_ALPHA], ga[G_ALPHA_SYN], ga[G_KERNEL]);
    return gx;
  }
};

// ------------------------------------------------------------------------------- driver

// Forward over neurons [b, e): s0 / sT the S initial / final state arrays (sT doubles as the
// running state), prm the P coefficient arrays, ck [S, n_segments, N]. Returns non-zero when
// x held inf or nan.
template <class F, typename T, int RESET>
int forward_block(const T* RESTRICT x, const std::array<const T*, F::S>& s0,
                  const std::array<const T*, F::P>& prm, T* RESTRICT out,
                  const std::array<T*, F::S>& sT, uint8_t* RESTRICT zs, T* RESTRICT ck,
                  int64_t seg, int64_t Tn, int64_t N, int64_t b, int64_t e) {
  constexpr int S = F::S, P = F::P;
  const int64_t NS = n_segments(Tn, seg);
  // local copies: the uint8 stores below cannot alias them, so they stay in registers
  T* st[S];
  const T* pp[P];
  for (int q = 0; q < S; ++q) st[q] = sT[q];
  for (int q = 0; q < P; ++q) pp[q] = prm[q];
  int bad = 0;
  for (int q = 0; q < S; ++q)
    for (int64_t i = b; i < e; ++i) st[q][i] = s0[q][i];
  for (int64_t t = 0; t < Tn; ++t) {
    if (t % seg == 0) {
      for (int q = 0; q < S; ++q) {
        T* RESTRICT c = ck + (q * NS + t / seg) * N;
        for (int64_t i = b; i < e; ++i) c[i] = st[q][i];
      }
    }
    const T* RESTRICT xt = x + t * N;
    T* RESTRICT ot = out + t * N;
    uint8_t* RESTRICT zt = zs + t * N;
#pragma GCC ivdep
    for (int64_t i = b; i < e; ++i) {
      T s[S], p[P];
      for (int q = 0; q < S; ++q) s[q] = st[q][i];
      for (int q = 0; q < P; ++q) p[q] = pp[q][i];
      bad |= nonfinite(xt[i]);
      const T z = F::template step<T, RESET, false>(s, xt[i], p, T(0));
      for (int q = 0; q < S; ++q) st[q][i] = s[q];
      ot[i] = z;
      zt[i] = static_cast<uint8_t>(z);
    }
  }
  return bad;
}

// Backward over neurons [b, e) (see the top of the file): gsT the S output state gradients,
// gs0 / ga the S initial-state / G coefficient gradients it writes, gx [T, N].
template <class F, typename T, int RESET, int KIND>
void backward_block(const T* RESTRICT gout, int64_t gstride, const std::array<const T*, F::S>& gsT,
                    const T* RESTRICT x, const T* RESTRICT ck, const uint8_t* RESTRICT zs,
                    const std::array<const T*, F::P>& prm, T attached, T k, T* RESTRICT gx,
                    const std::array<T*, F::S>& gs0, const std::array<T*, F::G>& gpar,
                    int64_t seg, int64_t Tn, int64_t N, int64_t b, int64_t e) {
  constexpr int S = F::S, P = F::P, G = F::G;
  std::vector<T> buf((S * seg + 2 * S + G) * BWD_BLK);
  T* prev[S];  // state before each step of the segment: prev[q] + (t - t0) * BWD_BLK
  T* run[S];   // state while recomputing the segment
  T* gs[S];    // dL/d(state)
  T* ga[G];    // dL/d(coefficient), summed over time
  for (int q = 0; q < S; ++q) {
    prev[q] = buf.data() + q * seg * BWD_BLK;
    run[q] = buf.data() + (S * seg + q) * BWD_BLK;
    gs[q] = buf.data() + (S * seg + S + q) * BWD_BLK;
  }
  for (int q = 0; q < G; ++q) ga[q] = buf.data() + (S * seg + 2 * S + q) * BWD_BLK;
  const int64_t NS = n_segments(Tn, seg);
  for (int64_t b0 = b; b0 < e; b0 += BWD_BLK) {
    const int64_t n = std::min(BWD_BLK, e - b0);
    const T* pb[P];
    for (int q = 0; q < P; ++q) pb[q] = prm[q] + b0;
    for (int q = 0; q < S; ++q)
      for (int64_t j = 0; j < n; ++j) gs[q][j] = gsT[q][b0 + j];
    for (int q = 0; q < G; ++q)
      for (int64_t j = 0; j < n; ++j) ga[q][j] = T(0);
    for (int64_t sgi = NS - 1; sgi >= 0; --sgi) {
      const int64_t t0 = sgi * seg, t1 = std::min(Tn, t0 + seg);
      for (int q = 0; q < S; ++q) {
        const T* RESTRICT c = ck + (q * NS + sgi) * N + b0;
        for (int64_t j = 0; j < n; ++j) run[q][j] = c[j];
      }
      for (int64_t t = t0; t < t1; ++t) {  // recompute the segment's states
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        const int64_t row = (t - t0) * BWD_BLK;
#pragma GCC ivdep
        for (int64_t j = 0; j < n; ++j) {
          T s[S], p[P];
          for (int q = 0; q < S; ++q) s[q] = prev[q][row + j] = run[q][j];
          for (int q = 0; q < P; ++q) p[q] = pb[q][j];
          F::template step<T, RESET, true>(s, xt[j], p, T(zt[j]));
          for (int q = 0; q < S; ++q) run[q][j] = s[q];
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
          T s[S], p[P], g[S], a[G];
          for (int q = 0; q < S; ++q) {
            s[q] = prev[q][row + j];
            g[q] = gs[q][j];
          }
          for (int q = 0; q < P; ++q) p[q] = pb[q][j];
          for (int q = 0; q < G; ++q) a[q] = ga[q][j];
          gxt[j] = F::template backward<T, RESET, KIND>(g, a, s, xt[j], T(zt[j]), got[j], p,
                                                        attached, k);
          for (int q = 0; q < S; ++q) gs[q][j] = g[q];
          for (int q = 0; q < G; ++q) ga[q][j] = a[q];
        }
      }
    }
    for (int q = 0; q < S; ++q)
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

// <family>_forward(x, *state0, *coefficients, reset, seg) -> (out, *state_T, z bytes, ckpt)
template <class F>
std::vector<torch::Tensor> fused_forward(const std::array<torch::Tensor, 1 + F::S + F::P>& a,
                                         int64_t reset, int64_t seg) {
  constexpr int S = F::S, P = F::P;
  const torch::Tensor& x = a[0];
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  TORCH_CHECK(seg > 0, "seg must be positive");
  const int64_t Tn = x.size(0), N = x.size(1);
  for (size_t q = 1; q < a.size(); ++q) {
    TORCH_CHECK(a[q].dim() == 1 && a[q].size(0) == N && a[q].is_contiguous(),
                "state/parameter must be a contiguous [N] tensor");
  }
  const torch::Tensor* state0 = a.data() + 1;
  const torch::Tensor* coef = state0 + S;
  std::vector<torch::Tensor> result;
  result.push_back(cached_empty(x.sizes(), x.options()));
  for (int q = 0; q < S; ++q) result.push_back(torch::empty_like(state0[q]));
  result.push_back(cached_empty({Tn, N}, x.options().dtype(torch::kUInt8)));
  result.push_back(cached_empty({S, n_segments(Tn, seg), N}, x.options()));
  const torch::Tensor &out = result[0], &zs = result[1 + S], &ck = result[2 + S];
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), F::name, [&] {
    using T = scalar_t;
    const auto s0 = cptrs<T, S>(state0);
    const auto prm = cptrs<T, P>(coef);
    const auto sT = ptrs<T, S>(result.data() + 1);
    dispatch_reset(reset, [&](auto r) {
      constexpr int R = decltype(r)::value;
      at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
        if (forward_block<F, T, R>(ptr<T>(x), s0, prm, ptr<T>(out), sT, zs.data_ptr<uint8_t>(),
                                   ptr<T>(ck), seg, Tn, N, b, e))
          bad.store(true);
      });
    });
  });
  TORCH_CHECK_VALUE(!bad.load(), NONFINITE_MSG);
  return result;
}

// <family>_backward(grad_out, *grad_state_T, x, ckpt, z, *coefficients, reset, detach, kind,
// slope, seg) -> (grad_x, *grad_state0, *grad_coefficients)
template <class F>
std::vector<torch::Tensor> fused_backward(const std::array<torch::Tensor, 4 + F::S + F::P>& a,
                                          int64_t reset, bool detach, int64_t kind,
                                          double slope, int64_t seg) {
  constexpr int S = F::S, P = F::P, G = F::G;
  const torch::Tensor& x = a[1 + S];
  const torch::Tensor &ck = a[2 + S], &zs = a[3 + S];
  const torch::Tensor* coef = a.data() + 4 + S;
  const int64_t Tn = x.size(0), N = x.size(1);
  const auto rows = grad_rows(a[0]);
  const torch::Tensor gout = rows.first;
  const int64_t gstride = rows.second;
  std::array<torch::Tensor, S> gsT;
  for (int q = 0; q < S; ++q) gsT[q] = a[1 + q].contiguous();
  std::vector<torch::Tensor> result;
  result.push_back(cached_empty(x.sizes(), x.options()));
  for (int q = 0; q < S + G; ++q) result.push_back(torch::empty_like(coef[0]));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), F::name, [&] {
    using T = scalar_t;
    const auto g_in = cptrs<T, S>(gsT.data());
    const auto prm = cptrs<T, P>(coef);
    const auto gs0 = ptrs<T, S>(result.data() + 1);
    const auto gpar = ptrs<T, G>(result.data() + 1 + S);
    dispatch_reset(reset, [&](auto r) {
      constexpr int R = decltype(r)::value;
      dispatch_surrogate(kind, [&](auto kd) {
        constexpr int KD = decltype(kd)::value;
        at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
          backward_block<F, T, R, KD>(ptr<T>(gout), gstride, g_in, ptr<T>(x), ptr<T>(ck),
                                      zs.data_ptr<uint8_t>(), prm, T(detach ? 0 : 1), T(slope),
                                      ptr<T>(result[0]), gs0, gpar, seg, Tn, N, b, e);
        });
      });
    });
  });
  return result;
}

// The op wrappers with one tensor argument per tensor (the signatures kernels/ops.py calls).
template <size_t>
using TensorArg = torch::Tensor;

template <class F, class Fwd = std::make_index_sequence<1 + F::S + F::P>,
          class Bwd = std::make_index_sequence<4 + F::S + F::P>>
struct Bind;

template <class F, size_t... I, size_t... J>
struct Bind<F, std::index_sequence<I...>, std::index_sequence<J...>> {
  static std::vector<torch::Tensor> forward(TensorArg<I>... t, int64_t reset, int64_t seg) {
    return fused_forward<F>({std::move(t)...}, reset, seg);
  }
  static std::vector<torch::Tensor> backward(TensorArg<J>... t, int64_t reset, bool detach,
                                             int64_t kind, double slope, int64_t seg) {
    return fused_backward<F>({std::move(t)...}, reset, detach, kind, slope, seg);
  }
};

using FamilySpec = std::tuple<std::string, int, int, int>;

template <class F>
FamilySpec def_family(pybind11::module& m) {
  m.def((std::string(F::name) + "_forward").c_str(), &Bind<F>::forward);
  m.def((std::string(F::name) + "_backward").c_str(), &Bind<F>::backward);
  return {F::name, F::S, int(F::P), F::G};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // every fused family: one traits struct above, listed here
  const std::vector<FamilySpec> families = {def_family<Lif>(m), def_family<Alif>(m),
                                            def_family<CubaLif>(m)};
  m.def("fused_families", [families] { return families; },
        "(name, state count, coefficient count, gradient count) of each fused family");
  m.def("cache_clear", &cache_clear);
  m.def("cache_bytes", &cache_bytes);
  m.def("cache_set_limit", &cache_set_limit);
}
