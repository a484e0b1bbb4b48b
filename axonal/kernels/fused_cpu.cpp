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
// The arithmetic mirrors axonal.functional.neurons (same expression order; the build turns
// floating-point contraction off) so that the forward pass is bit-identical to the reference.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/accumulate.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <atomic>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

constexpr int64_t GRAIN = 64;     // grain of the parallel split over neurons
constexpr int64_t BWD_BLK = 512;  // neurons per backward block (scratch: seg x BWD_BLK)

enum ResetKind : int { SUBTRACT = 0, ZERO = 1, NONE = 2 };
enum SurrogateKind : int {
  FAST_SIGMOID = 0, ATAN = 1, SIGMOID = 2, TRIANGLE = 3, STRAIGHT_THROUGH = 4
};

#define RESTRICT __restrict__

template <typename T, int KIND>
inline T surrogate_grad(T k, T x) {
  if constexpr (KIND == FAST_SIGMOID) {
    T d = T(1) + k * std::abs(x);
    return T(1) / (d * d);
  } else if constexpr (KIND == ATAN) {
    T y = T(M_PI / 2.0) * k * x;
    return (k / T(2)) / (T(1) + y * y);
  } else if constexpr (KIND == SIGMOID) {
    T s = T(1) / (T(1) + std::exp(-k * x));
    return k * s * (T(1) - s);
  } else if constexpr (KIND == TRIANGLE) {
    T y = T(1) - k * std::abs(x);
    return y > T(0) ? k * y : T(0);
  } else {
    return k;
  }
}

// Membrane after the reset, given the pre-reset value, the spike (0/1) and the
// distance subtracted by a soft reset (v_th - v_reset, or the effective threshold's).
template <typename T, int RESET>
inline T apply_reset(T vp, T zf, T gap, T vr) {
  if constexpr (RESET == SUBTRACT) {
    return vp - zf * gap;
  } else if constexpr (RESET == ZERO) {
    return zf > T(0) ? vr : vp;
  } else {
    return vp;
  }
}

// Backward through the reset: returns dL/dv_pre from dL/dv_new, adds to dL/dz and to
// dL/dgap (the soft reset's subtracted distance; its gradient is -z dL/dv_new).
template <typename T, int RESET>
inline T reset_grad(T gv, T zf, T gap, T vr, T vp, T attached, T& gz, T& ggap) {
  if constexpr (RESET == SUBTRACT) {
    gz -= attached * gv * gap;
    ggap = -gv * zf;
    return gv;
  } else if constexpr (RESET == ZERO) {
    gz += attached * gv * (vr - vp);
    ggap = T(0);
    return gv * (T(1) - zf);
  } else {
    ggap = T(0);
    return gv;
  }
}

void check_1d(const torch::Tensor& t, int64_t n, const char* name) {
  TORCH_CHECK(t.dim() == 1 && t.size(0) == n && t.is_contiguous(), name,
              " must be a contiguous [N] tensor");
}

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

#define DISPATCH_RESET(reset, ...)                                         \
  [&] {                                                                    \
    switch (reset) {                                                       \
      case SUBTRACT: { constexpr int R = SUBTRACT; return __VA_ARGS__(); } \
      case ZERO: { constexpr int R = ZERO; return __VA_ARGS__(); }         \
      case NONE: { constexpr int R = NONE; return __VA_ARGS__(); }         \
      default: TORCH_CHECK(false, "unknown reset code ", reset);          \
    }                                                                      \
  }()

#define DISPATCH_KIND(kind, ...)                                                      \
  [&] {                                                                               \
    switch (kind) {                                                                   \
      case FAST_SIGMOID: { constexpr int KD = FAST_SIGMOID; return __VA_ARGS__(); }     \
      case ATAN: { constexpr int KD = ATAN; return __VA_ARGS__(); }                     \
      case SIGMOID: { constexpr int KD = SIGMOID; return __VA_ARGS__(); }               \
      case TRIANGLE: { constexpr int KD = TRIANGLE; return __VA_ARGS__(); }             \
      case STRAIGHT_THROUGH: { constexpr int KD = STRAIGHT_THROUGH; return __VA_ARGS__(); } \
      default: TORCH_CHECK(false, "unknown surrogate code ", kind);                  \
    }                                                                                 \
  }()

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

// Shared shape checks of a forward call; returns (T, N).
std::pair<int64_t, int64_t> check_forward(const torch::Tensor& x,
                                          std::initializer_list<const torch::Tensor*> vecs,
                                          int64_t seg) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  TORCH_CHECK(seg > 0, "seg must be positive");
  const int64_t N = x.size(1);
  for (auto* p : vecs) check_1d(*p, N, "state/parameter");
  return {x.size(0), N};
}

// ---------------------------------------------------------------------------------- LIF
template <typename T, int RESET>
int lif_fwd_impl(const T* RESTRICT x, const T* RESTRICT v0, const T* RESTRICT al,
                  const T* RESTRICT th, const T* RESTRICT vl, const T* RESTRICT r,
                  const T* RESTRICT vr, T* RESTRICT out, T* RESTRICT vT,
                  uint8_t* RESTRICT zs, T* RESTRICT ck, int64_t seg, int64_t Tn, int64_t N,
                  int64_t b, int64_t e) {
  int bad = 0;
  T* RESTRICT v = vT;  // the final-state buffer doubles as the running state
  for (int64_t i = b; i < e; ++i) v[i] = v0[i];
  for (int64_t t = 0; t < Tn; ++t) {
    if (t % seg == 0) {
      T* RESTRICT c = ck + (t / seg) * N;
      for (int64_t i = b; i < e; ++i) c[i] = v[i];
    }
    const T* RESTRICT xt = x + t * N;
    T* RESTRICT ot = out + t * N;
    uint8_t* RESTRICT zt = zs + t * N;
    for (int64_t i = b; i < e; ++i) {
      bad |= nonfinite(xt[i]);
      const T vinf = vl[i] + r[i] * xt[i];
      const T vp = vinf + (v[i] - vinf) * al[i];
      const T zf = (vp - th[i]) > T(0) ? T(1) : T(0);
      v[i] = apply_reset<T, RESET>(vp, zf, th[i] - vr[i], vr[i]);
      ot[i] = zf;
      zt[i] = static_cast<uint8_t>(zf);
    }
  }
  return bad;
}

template <typename T, int RESET, int KIND>
void lif_bwd_impl(const T* RESTRICT gout, int64_t gstride, const T* RESTRICT gvT,
                  const T* RESTRICT x, const T* RESTRICT ck, const uint8_t* RESTRICT zs,
                  const T* RESTRICT al, const T* RESTRICT th, const T* RESTRICT vl,
                  const T* RESTRICT r, const T* RESTRICT vr, T attached, T k,
                  T* RESTRICT gx, T* RESTRICT gv0, T* RESTRICT gal, T* RESTRICT gth,
                  int64_t seg, int64_t Tn, int64_t N, int64_t b, int64_t e) {
  std::vector<T> buf((seg + 4) * BWD_BLK);
  T* RESTRICT vprev = buf.data();
  T* RESTRICT v = vprev + seg * BWD_BLK;
  T* RESTRICT gv = v + BWD_BLK;
  T* RESTRICT ga = gv + BWD_BLK;
  T* RESTRICT gt = ga + BWD_BLK;
  const int64_t S = n_segments(Tn, seg);
  for (int64_t b0 = b; b0 < e; b0 += BWD_BLK) {
    const int64_t n = std::min(BWD_BLK, e - b0);
    const T *RESTRICT alb = al + b0, *RESTRICT thb = th + b0, *RESTRICT vlb = vl + b0,
            *RESTRICT rb = r + b0, *RESTRICT vrb = vr + b0;
    for (int64_t j = 0; j < n; ++j) {
      gv[j] = gvT[b0 + j];
      ga[j] = T(0);
      gt[j] = T(0);
    }
    for (int64_t s = S - 1; s >= 0; --s) {
      const int64_t t0 = s * seg, t1 = std::min(Tn, t0 + seg);
      const T* RESTRICT c = ck + s * N + b0;
      for (int64_t j = 0; j < n; ++j) v[j] = c[j];
      for (int64_t t = t0; t < t1; ++t) {  // recompute the segment's membrane
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        T* RESTRICT vpt = vprev + (t - t0) * BWD_BLK;
        for (int64_t j = 0; j < n; ++j) {
          vpt[j] = v[j];
          const T vinf = vlb[j] + rb[j] * xt[j];
          const T vp = vinf + (v[j] - vinf) * alb[j];
          v[j] = apply_reset<T, RESET>(vp, T(zt[j]), thb[j] - vrb[j], vrb[j]);
        }
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        const T* RESTRICT got = gout + t * gstride + b0;
        T* RESTRICT gxt = gx + t * N + b0;
        const T* RESTRICT vpt = vprev + (t - t0) * BWD_BLK;
        for (int64_t j = 0; j < n; ++j) {
          const T vinf = vlb[j] + rb[j] * xt[j];
          const T d = vpt[j] - vinf;
          const T vp = vinf + d * alb[j];
          T gz = got[j];
          T ggap;
          T gp = reset_grad<T, RESET>(gv[j], T(zt[j]), thb[j] - vrb[j], vrb[j], vp, attached,
                                      gz, ggap);
          const T sg = gz * surrogate_grad<T, KIND>(k, vp - thb[j]);
          gp += sg;
          gt[j] += ggap - sg;
          gxt[j] = gp * (T(1) - alb[j]) * rb[j];
          ga[j] += gp * d;
          gv[j] = gp * alb[j];
        }
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      gv0[b0 + j] = gv[j];
      gal[b0 + j] = ga[j];
      gth[b0 + j] = gt[j];
    }
  }
}

std::vector<torch::Tensor> lif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor al,
                                       torch::Tensor th, torch::Tensor vl, torch::Tensor r,
                                       torch::Tensor vr, int64_t reset, int64_t seg) {
  const auto tn = check_forward(x, {&v0, &al, &th, &vl, &r, &vr}, seg);
  const int64_t Tn = tn.first, N = tn.second;
  auto out = cached_empty(x.sizes(), x.options());
  auto vT = torch::empty_like(v0);
  auto zs = cached_empty({Tn, N}, x.options().dtype(torch::kUInt8));
  auto ck = cached_empty({1, n_segments(Tn, seg), N}, x.options());
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_forward", [&] {
    using T = scalar_t;
    DISPATCH_RESET(reset, [&] {
      at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
        if (lif_fwd_impl<T, R>(ptr<T>(x), ptr<T>(v0), ptr<T>(al), ptr<T>(th), ptr<T>(vl), ptr<T>(r),
                           ptr<T>(vr), ptr<T>(out), ptr<T>(vT), zs.data_ptr<uint8_t>(),
                           ptr<T>(ck), seg, Tn, N, b, e)) bad.store(true);
      });
    });
  });
  TORCH_CHECK_VALUE(!bad.load(), NONFINITE_MSG);
  return {out, vT, zs, ck};
}

std::vector<torch::Tensor> lif_backward(torch::Tensor gout_, torch::Tensor gvT, torch::Tensor x,
                                        torch::Tensor ck, torch::Tensor zs, torch::Tensor al,
                                        torch::Tensor th, torch::Tensor vl, torch::Tensor r,
                                        torch::Tensor vr, int64_t reset, bool detach,
                                        int64_t kind, double slope, int64_t seg) {
  const int64_t Tn = x.size(0), N = x.size(1);
  const auto rows = grad_rows(gout_);
  const torch::Tensor gout = rows.first;
  const int64_t gstride = rows.second;
  gvT = gvT.contiguous();
  auto gx = cached_empty(x.sizes(), x.options());
  auto gv0 = torch::empty_like(al), gal = torch::empty_like(al), gth = torch::empty_like(al);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_backward", [&] {
    using T = scalar_t;
    DISPATCH_RESET(reset, [&] {
      DISPATCH_KIND(kind, [&] {
        at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
          lif_bwd_impl<T, R, KD>(ptr<T>(gout), gstride, ptr<T>(gvT), ptr<T>(x), ptr<T>(ck),
                                 zs.data_ptr<uint8_t>(), ptr<T>(al), ptr<T>(th), ptr<T>(vl),
                                 ptr<T>(r), ptr<T>(vr), T(detach ? 0 : 1), T(slope), ptr<T>(gx),
                                 ptr<T>(gv0), ptr<T>(gal), ptr<T>(gth), seg, Tn, N, b, e);
        });
      });
    });
  });
  return {gx, gv0, gal, gth};
}

// --------------------------------------------------------------------------------- ALIF
template <typename T, int RESET>
int alif_fwd_impl(const T* RESTRICT x, const T* RESTRICT v0, const T* RESTRICT a0,
                   const T* RESTRICT am, const T* RESTRICT aa, const T* RESTRICT th,
                   const T* RESTRICT vl, const T* RESTRICT r, const T* RESTRICT vr,
                   const T* RESTRICT dl, T* RESTRICT out, T* RESTRICT vT, T* RESTRICT aT,
                   uint8_t* RESTRICT zs, T* RESTRICT ck, int64_t seg, int64_t Tn, int64_t N,
                   int64_t b, int64_t e) {
  int bad = 0;
  T* RESTRICT v = vT;
  T* RESTRICT a = aT;
  const int64_t S = n_segments(Tn, seg);
  for (int64_t i = b; i < e; ++i) {
    v[i] = v0[i];
    a[i] = a0[i];
  }
  for (int64_t t = 0; t < Tn; ++t) {
    if (t % seg == 0) {
      T* RESTRICT cv = ck + (t / seg) * N;
      T* RESTRICT ca = cv + S * N;
      for (int64_t i = b; i < e; ++i) {
        cv[i] = v[i];
        ca[i] = a[i];
      }
    }
    const T* RESTRICT xt = x + t * N;
    T* RESTRICT ot = out + t * N;
    uint8_t* RESTRICT zt = zs + t * N;
    for (int64_t i = b; i < e; ++i) {
      bad |= nonfinite(xt[i]);
      const T vinf = vl[i] + r[i] * xt[i];
      const T vp = vinf + (v[i] - vinf) * am[i];
      const T ad = a[i] * aa[i];
      const T thr = th[i] + ad;
      const T zf = (vp - thr) > T(0) ? T(1) : T(0);
      v[i] = apply_reset<T, RESET>(vp, zf, thr - vr[i], vr[i]);
      a[i] = ad + dl[i] * zf;
      ot[i] = zf;
      zt[i] = static_cast<uint8_t>(zf);
    }
  }
  return bad;
}

template <typename T, int RESET, int KIND>
void alif_bwd_impl(const T* RESTRICT gout, int64_t gstride, const T* RESTRICT gvT,
                   const T* RESTRICT gaT, const T* RESTRICT x, const T* RESTRICT ck,
                   const uint8_t* RESTRICT zs, const T* RESTRICT am, const T* RESTRICT aa,
                   const T* RESTRICT th, const T* RESTRICT vl, const T* RESTRICT r,
                   const T* RESTRICT vr, const T* RESTRICT dl, T attached, T k,
                   T* RESTRICT gx, T* RESTRICT gv0, T* RESTRICT ga0, T* RESTRICT gam,
                   T* RESTRICT gaa, T* RESTRICT gth, T* RESTRICT gdl, int64_t seg, int64_t Tn,
                   int64_t N, int64_t b, int64_t e) {
  std::vector<T> buf((2 * seg + 8) * BWD_BLK);
  T* RESTRICT vprev = buf.data();
  T* RESTRICT aprev = vprev + seg * BWD_BLK;
  T* RESTRICT v = aprev + seg * BWD_BLK;
  T* RESTRICT a = v + BWD_BLK;
  T* RESTRICT gv = a + BWD_BLK;
  T* RESTRICT gad = gv + BWD_BLK;
  T* RESTRICT g_am = gad + BWD_BLK;
  T* RESTRICT g_aa = g_am + BWD_BLK;
  T* RESTRICT g_th = g_aa + BWD_BLK;
  T* RESTRICT g_dl = g_th + BWD_BLK;
  const int64_t S = n_segments(Tn, seg);
  for (int64_t b0 = b; b0 < e; b0 += BWD_BLK) {
    const int64_t n = std::min(BWD_BLK, e - b0);
    const T *RESTRICT amb = am + b0, *RESTRICT aab = aa + b0, *RESTRICT thb = th + b0,
            *RESTRICT vlb = vl + b0, *RESTRICT rb = r + b0, *RESTRICT vrb = vr + b0,
            *RESTRICT dlb = dl + b0;
    for (int64_t j = 0; j < n; ++j) {
      gv[j] = gvT[b0 + j];
      gad[j] = gaT[b0 + j];
      g_am[j] = g_aa[j] = g_th[j] = g_dl[j] = T(0);
    }
    for (int64_t s = S - 1; s >= 0; --s) {
      const int64_t t0 = s * seg, t1 = std::min(Tn, t0 + seg);
      const T* RESTRICT cv = ck + s * N + b0;
      const T* RESTRICT ca = cv + S * N;
      for (int64_t j = 0; j < n; ++j) {
        v[j] = cv[j];
        a[j] = ca[j];
      }
      for (int64_t t = t0; t < t1; ++t) {
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        T* RESTRICT vpt = vprev + (t - t0) * BWD_BLK;
        T* RESTRICT apt = aprev + (t - t0) * BWD_BLK;
        for (int64_t j = 0; j < n; ++j) {
          vpt[j] = v[j];
          apt[j] = a[j];
          const T vinf = vlb[j] + rb[j] * xt[j];
          const T vp = vinf + (v[j] - vinf) * amb[j];
          const T ad = a[j] * aab[j];
          const T zf = T(zt[j]);
          v[j] = apply_reset<T, RESET>(vp, zf, (thb[j] + ad) - vrb[j], vrb[j]);
          a[j] = ad + dlb[j] * zf;
        }
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        const T* RESTRICT got = gout + t * gstride + b0;
        T* RESTRICT gxt = gx + t * N + b0;
        const T* RESTRICT vpt = vprev + (t - t0) * BWD_BLK;
        const T* RESTRICT apt = aprev + (t - t0) * BWD_BLK;
        for (int64_t j = 0; j < n; ++j) {
          const T zf = T(zt[j]);
          const T vinf = vlb[j] + rb[j] * xt[j];
          const T d = vpt[j] - vinf;
          const T vp = vinf + d * amb[j];
          const T ap = apt[j];
          const T ad = ap * aab[j];
          const T thr = thb[j] + ad;
          T gz = got[j] + gad[j] * dlb[j];  // a_new = ad + delta z
          g_dl[j] += gad[j] * zf;
          T ggap;
          T gp = reset_grad<T, RESET>(gv[j], zf, thr - vrb[j], vrb[j], vp, attached, gz, ggap);
          const T sg = gz * surrogate_grad<T, KIND>(k, vp - thr);
          gp += sg;
          const T g_thr = ggap - sg;
          g_th[j] += g_thr;
          const T g_ad = gad[j] + g_thr;
          gxt[j] = gp * (T(1) - amb[j]) * rb[j];
          g_am[j] += gp * d;
          gv[j] = gp * amb[j];
          g_aa[j] += g_ad * ap;
          gad[j] = g_ad * aab[j];
        }
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      gv0[b0 + j] = gv[j];
      ga0[b0 + j] = gad[j];
      gam[b0 + j] = g_am[j];
      gaa[b0 + j] = g_aa[j];
      gth[b0 + j] = g_th[j];
      gdl[b0 + j] = g_dl[j];
    }
  }
}

std::vector<torch::Tensor> alif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor a0,
                                        torch::Tensor am, torch::Tensor aa, torch::Tensor th,
                                        torch::Tensor vl, torch::Tensor r, torch::Tensor vr,
                                        torch::Tensor dl, int64_t reset, int64_t seg) {
  const auto tn = check_forward(x, {&v0, &a0, &am, &aa, &th, &vl, &r, &vr, &dl}, seg);
  const int64_t Tn = tn.first, N = tn.second;
  auto out = cached_empty(x.sizes(), x.options());
  auto vT = torch::empty_like(v0), aT = torch::empty_like(v0);
  auto zs = cached_empty({Tn, N}, x.options().dtype(torch::kUInt8));
  auto ck = cached_empty({2, n_segments(Tn, seg), N}, x.options());
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "alif_forward", [&] {
    using T = scalar_t;
    DISPATCH_RESET(reset, [&] {
      at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
        if (alif_fwd_impl<T, R>(ptr<T>(x), ptr<T>(v0), ptr<T>(a0), ptr<T>(am), ptr<T>(aa),
                            ptr<T>(th), ptr<T>(vl), ptr<T>(r), ptr<T>(vr), ptr<T>(dl),
                            ptr<T>(out), ptr<T>(vT), ptr<T>(aT), zs.data_ptr<uint8_t>(),
                            ptr<T>(ck), seg, Tn, N, b, e)) bad.store(true);
      });
    });
  });
  TORCH_CHECK_VALUE(!bad.load(), NONFINITE_MSG);
  return {out, vT, aT, zs, ck};
}

std::vector<torch::Tensor> alif_backward(
    torch::Tensor gout_, torch::Tensor gvT, torch::Tensor gaT, torch::Tensor x, torch::Tensor ck,
    torch::Tensor zs, torch::Tensor am, torch::Tensor aa, torch::Tensor th, torch::Tensor vl,
    torch::Tensor r, torch::Tensor vr, torch::Tensor dl, int64_t reset, bool detach,
    int64_t kind, double slope, int64_t seg) {
  const int64_t Tn = x.size(0), N = x.size(1);
  const auto rows = grad_rows(gout_);
  const torch::Tensor gout = rows.first;
  const int64_t gstride = rows.second;
  gvT = gvT.contiguous();
  gaT = gaT.contiguous();
  auto gx = cached_empty(x.sizes(), x.options());
  auto gv0 = torch::empty_like(am), ga0 = torch::empty_like(am), gam = torch::empty_like(am),
       gaa = torch::empty_like(am), gth = torch::empty_like(am), gdl = torch::empty_like(am);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "alif_backward", [&] {
    using T = scalar_t;
    DISPATCH_RESET(reset, [&] {
      DISPATCH_KIND(kind, [&] {
        at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
          alif_bwd_impl<T, R, KD>(
              ptr<T>(gout), gstride, ptr<T>(gvT), ptr<T>(gaT), ptr<T>(x), ptr<T>(ck),
              zs.data_ptr<uint8_t>(), ptr<T>(am), ptr<T>(aa), ptr<T>(th), ptr<T>(vl), ptr<T>(r),
              ptr<T>(vr), ptr<T>(dl), T(detach ? 0 : 1), T(slope), ptr<T>(gx), ptr<T>(gv0),
              ptr<T>(ga0), ptr<T>(gam), ptr<T>(gaa), ptr<T>(gth), ptr<T>(gdl), seg, Tn, N, b, e);
        });
      });
    });
  });
  return {gx, gv0, ga0, gam, gaa, gth, gdl};
}

// ----------------------------------------------------------------------------- CubaLIF
template <typename T, int RESET>
int cuba_fwd_impl(const T* RESTRICT x, const T* RESTRICT v0, const T* RESTRICT i0,
                   const T* RESTRICT am, const T* RESTRICT as, const T* RESTRICT K,
                   const T* RESTRICT th, const T* RESTRICT vl, const T* RESTRICT r,
                   const T* RESTRICT vr, T* RESTRICT out, T* RESTRICT vT, T* RESTRICT iT,
                   uint8_t* RESTRICT zs, T* RESTRICT ck, int64_t seg, int64_t Tn, int64_t N,
                   int64_t b, int64_t e) {
  int bad = 0;
  T* RESTRICT v = vT;
  T* RESTRICT c = iT;
  const int64_t S = n_segments(Tn, seg);
  for (int64_t i = b; i < e; ++i) {
    v[i] = v0[i];
    c[i] = i0[i];
  }
  for (int64_t t = 0; t < Tn; ++t) {
    if (t % seg == 0) {
      T* RESTRICT cv = ck + (t / seg) * N;
      T* RESTRICT ci = cv + S * N;
      for (int64_t i = b; i < e; ++i) {
        cv[i] = v[i];
        ci[i] = c[i];
      }
    }
    const T* RESTRICT xt = x + t * N;
    T* RESTRICT ot = out + t * N;
    uint8_t* RESTRICT zt = zs + t * N;
    for (int64_t i = b; i < e; ++i) {
      const T xi = xt[i];
      bad |= nonfinite(xi);
      const T d = c[i] - xi;
      const T vinf = vl[i] + r[i] * xi;
      const T vp = vinf + (v[i] - vinf) * am[i] + (r[i] * d) * K[i];
      c[i] = xi + d * as[i];
      const T zf = (vp - th[i]) > T(0) ? T(1) : T(0);
      v[i] = apply_reset<T, RESET>(vp, zf, th[i] - vr[i], vr[i]);
      ot[i] = zf;
      zt[i] = static_cast<uint8_t>(zf);
    }
  }
  return bad;
}

template <typename T, int RESET, int KIND>
void cuba_bwd_impl(const T* RESTRICT gout, int64_t gstride, const T* RESTRICT gvT,
                   const T* RESTRICT giT, const T* RESTRICT x, const T* RESTRICT ck,
                   const uint8_t* RESTRICT zs, const T* RESTRICT am, const T* RESTRICT as,
                   const T* RESTRICT K, const T* RESTRICT th, const T* RESTRICT vl,
                   const T* RESTRICT r, const T* RESTRICT vr, T attached, T k,
                   T* RESTRICT gx, T* RESTRICT gv0, T* RESTRICT gi0, T* RESTRICT gam,
                   T* RESTRICT gas, T* RESTRICT gK, T* RESTRICT gth, int64_t seg, int64_t Tn,
                   int64_t N, int64_t b, int64_t e) {
  std::vector<T> buf((2 * seg + 8) * BWD_BLK);
  T* RESTRICT vprev = buf.data();
  T* RESTRICT iprev = vprev + seg * BWD_BLK;
  T* RESTRICT v = iprev + seg * BWD_BLK;
  T* RESTRICT c = v + BWD_BLK;
  T* RESTRICT gv = c + BWD_BLK;
  T* RESTRICT gi = gv + BWD_BLK;
  T* RESTRICT g_am = gi + BWD_BLK;
  T* RESTRICT g_as = g_am + BWD_BLK;
  T* RESTRICT g_K = g_as + BWD_BLK;
  T* RESTRICT g_th = g_K + BWD_BLK;
  const int64_t S = n_segments(Tn, seg);
  for (int64_t b0 = b; b0 < e; b0 += BWD_BLK) {
    const int64_t n = std::min(BWD_BLK, e - b0);
    const T *RESTRICT amb = am + b0, *RESTRICT asb = as + b0, *RESTRICT Kb = K + b0,
            *RESTRICT thb = th + b0, *RESTRICT vlb = vl + b0, *RESTRICT rb = r + b0,
            *RESTRICT vrb = vr + b0;
    for (int64_t j = 0; j < n; ++j) {
      gv[j] = gvT[b0 + j];
      gi[j] = giT[b0 + j];
      g_am[j] = g_as[j] = g_K[j] = g_th[j] = T(0);
    }
    for (int64_t s = S - 1; s >= 0; --s) {
      const int64_t t0 = s * seg, t1 = std::min(Tn, t0 + seg);
      const T* RESTRICT cv = ck + s * N + b0;
      const T* RESTRICT ci = cv + S * N;
      for (int64_t j = 0; j < n; ++j) {
        v[j] = cv[j];
        c[j] = ci[j];
      }
      for (int64_t t = t0; t < t1; ++t) {
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        T* RESTRICT vpt = vprev + (t - t0) * BWD_BLK;
        T* RESTRICT ipt = iprev + (t - t0) * BWD_BLK;
        for (int64_t j = 0; j < n; ++j) {
          vpt[j] = v[j];
          ipt[j] = c[j];
          const T xi = xt[j];
          const T d = c[j] - xi;
          const T vinf = vlb[j] + rb[j] * xi;
          const T vp = vinf + (v[j] - vinf) * amb[j] + (rb[j] * d) * Kb[j];
          c[j] = xi + d * asb[j];
          v[j] = apply_reset<T, RESET>(vp, T(zt[j]), thb[j] - vrb[j], vrb[j]);
        }
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const T* RESTRICT xt = x + t * N + b0;
        const uint8_t* RESTRICT zt = zs + t * N + b0;
        const T* RESTRICT got = gout + t * gstride + b0;
        T* RESTRICT gxt = gx + t * N + b0;
        const T* RESTRICT vpt = vprev + (t - t0) * BWD_BLK;
        const T* RESTRICT ipt = iprev + (t - t0) * BWD_BLK;
        for (int64_t j = 0; j < n; ++j) {
          const T xi = xt[j];
          const T d = ipt[j] - xi;
          const T vinf = vlb[j] + rb[j] * xi;
          const T dvv = vpt[j] - vinf;
          const T vp = vinf + dvv * amb[j] + (rb[j] * d) * Kb[j];
          T gz = got[j];
          T ggap;
          T gp = reset_grad<T, RESET>(gv[j], T(zt[j]), thb[j] - vrb[j], vrb[j], vp, attached,
                                      gz, ggap);
          const T sg = gz * surrogate_grad<T, KIND>(k, vp - thb[j]);
          gp += sg;
          g_th[j] += ggap - sg;
          // v_pre = vinf + (v - vinf) am + r d K ;  i_new = x + d as ;  d = i - x
          g_am[j] += gp * dvv;
          g_K[j] += gp * rb[j] * d;
          g_as[j] += gi[j] * d;
          const T gd = gp * rb[j] * Kb[j] + gi[j] * asb[j];
          gxt[j] = gp * (T(1) - amb[j]) * rb[j] + gi[j] - gd;
          gv[j] = gp * amb[j];
          gi[j] = gd;
        }
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      gv0[b0 + j] = gv[j];
      gi0[b0 + j] = gi[j];
      gam[b0 + j] = g_am[j];
      gas[b0 + j] = g_as[j];
      gK[b0 + j] = g_K[j];
      gth[b0 + j] = g_th[j];
    }
  }
}

std::vector<torch::Tensor> cuba_lif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor i0,
                                            torch::Tensor am, torch::Tensor as, torch::Tensor K,
                                            torch::Tensor th, torch::Tensor vl, torch::Tensor r,
                                            torch::Tensor vr, int64_t reset, int64_t seg) {
  const auto tn = check_forward(x, {&v0, &i0, &am, &as, &K, &th, &vl, &r, &vr}, seg);
  const int64_t Tn = tn.first, N = tn.second;
  auto out = cached_empty(x.sizes(), x.options());
  auto vT = torch::empty_like(v0), iT = torch::empty_like(v0);
  auto zs = cached_empty({Tn, N}, x.options().dtype(torch::kUInt8));
  auto ck = cached_empty({2, n_segments(Tn, seg), N}, x.options());
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cuba_lif_forward", [&] {
    using T = scalar_t;
    DISPATCH_RESET(reset, [&] {
      at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
        if (cuba_fwd_impl<T, R>(ptr<T>(x), ptr<T>(v0), ptr<T>(i0), ptr<T>(am), ptr<T>(as), ptr<T>(K),
                            ptr<T>(th), ptr<T>(vl), ptr<T>(r), ptr<T>(vr), ptr<T>(out),
                            ptr<T>(vT), ptr<T>(iT), zs.data_ptr<uint8_t>(), ptr<T>(ck), seg, Tn,
                            N, b, e)) bad.store(true);
      });
    });
  });
  TORCH_CHECK_VALUE(!bad.load(), NONFINITE_MSG);
  return {out, vT, iT, zs, ck};
}

std::vector<torch::Tensor> cuba_lif_backward(
    torch::Tensor gout_, torch::Tensor gvT, torch::Tensor giT, torch::Tensor x, torch::Tensor ck,
    torch::Tensor zs, torch::Tensor am, torch::Tensor as, torch::Tensor K, torch::Tensor th,
    torch::Tensor vl, torch::Tensor r, torch::Tensor vr, int64_t reset, bool detach,
    int64_t kind, double slope, int64_t seg) {
  const int64_t Tn = x.size(0), N = x.size(1);
  const auto rows = grad_rows(gout_);
  const torch::Tensor gout = rows.first;
  const int64_t gstride = rows.second;
  gvT = gvT.contiguous();
  giT = giT.contiguous();
  auto gx = cached_empty(x.sizes(), x.options());
  auto gv0 = torch::empty_like(am), gi0 = torch::empty_like(am), gam = torch::empty_like(am),
       gas = torch::empty_like(am), gK = torch::empty_like(am), gth = torch::empty_like(am);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cuba_lif_backward", [&] {
    using T = scalar_t;
    DISPATCH_RESET(reset, [&] {
      DISPATCH_KIND(kind, [&] {
        at::parallel_for(0, N, GRAIN, [&](int64_t b, int64_t e) {
          cuba_bwd_impl<T, R, KD>(
              ptr<T>(gout), gstride, ptr<T>(gvT), ptr<T>(giT), ptr<T>(x), ptr<T>(ck),
              zs.data_ptr<uint8_t>(), ptr<T>(am), ptr<T>(as), ptr<T>(K), ptr<T>(th), ptr<T>(vl),
              ptr<T>(r), ptr<T>(vr), T(detach ? 0 : 1), T(slope), ptr<T>(gx), ptr<T>(gv0),
              ptr<T>(gi0), ptr<T>(gam), ptr<T>(gas), ptr<T>(gK), ptr<T>(gth), seg, Tn, N, b, e);
        });
      });
    });
  });
  return {gx, gv0, gi0, gam, gas, gK, gth};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lif_forward", &lif_forward);
  m.def("lif_backward", &lif_backward);
  m.def("alif_forward", &alif_forward);
  m.def("alif_backward", &alif_backward);
  m.def("cuba_lif_forward", &cuba_lif_forward);
  m.def("cuba_lif_backward", &cuba_lif_backward);
  m.def("cache_clear", &cache_clear);
  m.def("cache_bytes", &cache_bytes);
  m.def("cache_set_limit", &cache_set_limit);
}
