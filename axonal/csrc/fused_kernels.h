// The fused kernels' families and their generic driver (axonal.kernels), shared by the two
// translation units of the fused CPU extension: fused_cpu.cpp (the ops, the buffer cache, the
// t_ref = 0 specialisations) and fused_ref_cpu.cpp (the t_ref > 0, REF, specialisations,
// explicitly instantiated there so that the two halves compile in parallel). See the top of
// fused_cpu.cpp for what the kernels do.
#ifndef AXONAL_FUSED_KERNELS_H
#define AXONAL_FUSED_KERNELS_H

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "neuron_math.h"

namespace axonal_fused {

constexpr int64_t GRAIN = 64;     // grain of the parallel split over neurons
constexpr int64_t BWD_BLK = 512;  // neurons per backward block (scratch: seg x BWD_BLK)

#define RESTRICT __restrict__

// Non-zero when v is inf or nan (an integer OR-reduction of this vectorises, unlike a float sum).
template <typename T>
inline int nonfinite(T v) {
  return !(std::abs(v) <= std::numeric_limits<T>::max());
}

inline int64_t n_segments(int64_t Tn, int64_t seg) { return (Tn + seg - 1) / seg; }

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
// Python float operand to a float32 tensor's type. ref_limit is refractory_limit(dt) (the gate
// opens once the remaining time is below it), computed in Python.
template <typename T>
struct Gate {
  T dt, ref_limit, t_ref;
  Gate(double dt_, double t_ref_, double ref_limit_)
      : dt(T(dt_)), ref_limit(T(ref_limit_)), t_ref(T(t_ref_)) {}
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
                                                    axonal_refractory_active(rem, gate.ref_limit));
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
                                                   axonal_refractory_active(rem, gate.ref_limit));
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
            const bool open = axonal_refractory_active(
                axonal_refractory_remaining(s[S], gate.dt), gate.ref_limit);
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

// ------------------------------------------------------------------------- one op's run

// A forward call's operands: x [T, N], the S + 1 initial / final state arrays, the P
// coefficient arrays, the outputs, and the gate's constants.
template <class F, typename T>
struct ForwardArgs {
  const T* x;
  std::array<const T*, F::S + 1> s0;
  std::array<const T*, F::P> prm;
  T* out;
  std::array<T*, F::S + 1> sT;
  uint8_t* zs;
  T* ck;
  int64_t seg, Tn, N;
  Gate<T> gate;
};

// A backward call's operands (see backward_block).
template <class F, typename T>
struct BackwardArgs {
  const T* gout;
  int64_t gstride;
  std::array<const T*, F::S + 1> gsT;
  const T* x;
  const T* ck;
  const uint8_t* zs;
  std::array<const T*, F::P> prm;
  T attached, k;
  T* gx;
  std::array<T*, F::S + 1> gs0;
  std::array<T*, F::G> gpar;
  int64_t seg, Tn, N;
  Gate<T> gate;
};

// The forward over all neurons, parallel over blocks of them; returns the non-finite report.
template <class F, typename T, bool REF>
int64_t run_forward(const ForwardArgs<F, T>& a, int64_t reset) {
  std::atomic<int64_t> report{0};
  dispatch_reset(reset, [&](auto r) {
    constexpr int R = decltype(r)::value;
    at::parallel_for(0, a.N, GRAIN, [&](int64_t b, int64_t e) {
      const int64_t bits = forward_block<F, T, R, REF>(a.x, a.s0, a.prm, a.out, a.sT, a.zs, a.ck,
                                                       a.seg, a.Tn, a.N, b, e, a.gate);
      if (bits) report.fetch_or(bits);
    });
  });
  return report.load();
}

// The backward over all neurons, parallel over blocks of them.
template <class F, typename T, bool REF>
void run_backward(const BackwardArgs<F, T>& a, int64_t reset, int64_t kind) {
  dispatch_reset(reset, [&](auto r) {
    constexpr int R = decltype(r)::value;
    dispatch_surrogate(kind, [&](auto kd) {
      constexpr int KD = decltype(kd)::value;
      at::parallel_for(0, a.N, GRAIN, [&](int64_t b, int64_t e) {
        backward_block<F, T, R, KD, REF>(a.gout, a.gstride, a.gsT, a.x, a.ck, a.zs, a.prm,
                                         a.attached, a.k, a.gx, a.gs0, a.gpar, a.seg, a.Tn, a.N,
                                         b, e, a.gate);
      });
    });
  });
}

// The REF (t_ref > 0) runs of a family, instantiated in fused_ref_cpu.cpp only (PREFIX empty)
// and declared extern (PREFIX extern) where fused_cpu.cpp would otherwise instantiate them.
#define AXONAL_FUSED_REF_RUNS(PREFIX, F)                                                       \
  PREFIX template int64_t run_forward<F, float, true>(const ForwardArgs<F, float>&, int64_t);   \
  PREFIX template int64_t run_forward<F, double, true>(const ForwardArgs<F, double>&, int64_t); \
  PREFIX template void run_backward<F, float, true>(const BackwardArgs<F, float>&, int64_t,     \
                                                    int64_t);                                   \
  PREFIX template void run_backward<F, double, true>(const BackwardArgs<F, double>&, int64_t,   \
                                                     int64_t);

// every fused family, in the order fused_cpu.cpp registers them
#define AXONAL_FUSED_FAMILIES(X) X(Lif) X(Alif) X(CubaLif)

}  // namespace axonal_fused

#endif  // AXONAL_FUSED_KERNELS_H
