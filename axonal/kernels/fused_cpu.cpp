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
// The code is in two translation units compiled in parallel: the families and the generic
// driver are in ../csrc/fused_kernels.h; fused_ref_cpu.cpp instantiates their REF
// specialisations, this file the others, the ops and the module.
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

#include "../csrc/fused_kernels.h"
namespace axonal_fused {
#define AXONAL_FUSED_REF_EXTERN(F) AXONAL_FUSED_REF_RUNS(extern, F)
AXONAL_FUSED_FAMILIES(AXONAL_FUSED_REF_EXTERN)
#undef AXONAL_FUSED_REF_EXTERN
}  // namespace axonal_fused

namespace {

using namespace axonal_fused;

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

// <family>_forward(x, *state0, refractory0, *coefficients, reset, seg, t_ref, dt,
// ref_limit) -> ((out, *state_T, refractory_T, z bytes, ckpt), non-finite report). The report is 0 when x,
// the initial state and the coefficients are finite, else its bits say which are not (see
// state_bit / coef_bit); the caller raises, naming them.
template <class F>
std::tuple<std::vector<torch::Tensor>, int64_t> fused_forward(
    const std::array<torch::Tensor, 2 + F::S + F::P>& a, int64_t reset, int64_t seg,
    double t_ref, double dt, double ref_limit) {
  constexpr int SA = F::S + 1, P = F::P;
  const torch::Tensor& x = a[0];
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  TORCH_CHECK(seg > 0, "seg must be positive");
  TORCH_CHECK(dt > 0, "dt must be > 0 s, got ", dt);
  TORCH_CHECK(t_ref >= 0, "t_ref must be >= 0 s, got ", t_ref);
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
  int64_t report = 0;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), F::name, [&] {
    using T = scalar_t;
    const ForwardArgs<F, T> args{ptr<T>(x), cptrs<T, SA>(state0), cptrs<T, P>(coef),
                                 ptr<T>(out), ptrs<T, SA>(result.data() + 1),
                                 zs.data_ptr<uint8_t>(), ptr<T>(ck), seg, Tn, N,
                                 Gate<T>(dt, t_ref, ref_limit)};
    report = t_ref > 0 ? run_forward<F, T, true>(args, reset)
                       : run_forward<F, T, false>(args, reset);
  });
  return {result, report};
}

// <family>_backward(grad_out, *grad_state_T, grad_refractory_T, x, ckpt, z, *coefficients,
// reset, detach, kind, slope, seg, t_ref, dt, ref_limit) -> (grad_x, *grad_state0,
// grad_refractory0, *grad_coefficients)
template <class F>
std::vector<torch::Tensor> fused_backward(const std::array<torch::Tensor, 5 + F::S + F::P>& a,
                                          int64_t reset, bool detach, int64_t kind,
                                          double slope, int64_t seg, double t_ref, double dt,
                                          double ref_limit) {
  constexpr int SA = F::S + 1, P = F::P, G = F::G;
  const torch::Tensor& x = a[1 + SA];
  const torch::Tensor &ck = a[2 + SA], &zs = a[3 + SA];
  const torch::Tensor* coef = a.data() + 4 + SA;
  const int64_t Tn = x.size(0), N = x.size(1);
  TORCH_CHECK(seg > 0 && dt > 0 && t_ref >= 0, "seg and dt must be positive, t_ref >= 0");
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
    const BackwardArgs<F, T> args{ptr<T>(gout), gstride, cptrs<T, SA>(gsT.data()), ptr<T>(x),
                                  ptr<T>(ck), zs.data_ptr<uint8_t>(), cptrs<T, P>(coef),
                                  T(detach ? 0 : 1), T(slope), ptr<T>(result[0]),
                                  ptrs<T, SA>(result.data() + 1),
                                  ptrs<T, G>(result.data() + 1 + SA), seg, Tn, N,
                                  Gate<T>(dt, t_ref, ref_limit)};
    if (t_ref > 0) {
      run_backward<F, T, true>(args, reset, kind);
    } else {
      run_backward<F, T, false>(args, reset, kind);
    }
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
                                                                  double t_ref, double dt,
                                                                  double ref_limit) {
    return fused_forward<F>({std::move(t)...}, reset, seg, t_ref, dt, ref_limit);
  }
  static std::vector<torch::Tensor> backward(TensorArg<J>... t, int64_t reset, bool detach,
                                             int64_t kind, double slope, int64_t seg,
                                             double t_ref, double dt, double ref_limit) {
    return fused_backward<F>({std::move(t)...}, reset, detach, kind, slope, seg, t_ref, dt,
                             ref_limit);
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
