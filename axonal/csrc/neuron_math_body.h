/* The bodies of neuron_math.h for one floating type AXONAL_T (included by neuron_math.h only,
 * once per type; no include guard on purpose). Each forward piece names the reference it
 * mirrors in axonal.functional; keep the operations and their order identical to it. */
#ifndef AXONAL_T
#error "neuron_math_body.h is included by neuron_math.h only"
#endif

#ifdef __cplusplus
#define AXONAL_FN(name) axonal_##name
#else
#define AXONAL_FN(name) AXONAL_FN_(name, AXONAL_SUFFIX)
#define AXONAL_FN_(name, suffix) AXONAL_FN__(name, suffix)
#define AXONAL_FN__(name, suffix) axonal_##name##_##suffix
#endif

/* ------------------------------------------------------------------------------ forward */

/* Steady state v_inf = v_leak + r x of the leaky membrane under input x (leaky_membrane). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(steady_state)(AXONAL_T x, AXONAL_T v_leak, AXONAL_T r) {
  return v_leak + r * x;
}

/* Exact exponential relaxation of v towards v_inf over one step: v_inf + (v - v_inf) alpha. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(relax)(AXONAL_T v, AXONAL_T v_inf, AXONAL_T alpha) {
  return v_inf + (v - v_inf) * alpha;
}

/* LIF membrane after one step of input x, before threshold and reset (lif_step). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(lif_membrane)(AXONAL_T v, AXONAL_T x, AXONAL_T v_leak,
                                                    AXONAL_T r, AXONAL_T alpha) {
  return AXONAL_FN(relax)(v, AXONAL_FN(steady_state)(x, v_leak, r), alpha);
}

/* CubaLIF membrane after one step (cuba_lif_step), exact for constant x: the synaptic current
 * i relaxes to x with alpha_syn, the membrane to v_leak + r x with alpha plus the synaptic
 * kernel's share of the current's distance d = i - x. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(cuba_membrane)(AXONAL_T v, AXONAL_T i, AXONAL_T x,
                                                     AXONAL_T v_leak, AXONAL_T r,
                                                     AXONAL_T alpha, AXONAL_T kernel) {
  const AXONAL_T d = i - x;
  return AXONAL_FN(relax)(v, AXONAL_FN(steady_state)(x, v_leak, r), alpha) + (r * d) * kernel;
}

/* CubaLIF synaptic current after one step: x + (i - x) alpha_syn (cuba_lif_step). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(cuba_current)(AXONAL_T i, AXONAL_T x, AXONAL_T alpha_syn) {
  return x + (i - x) * alpha_syn;
}

/* ALIF adaptation decayed over one step, before this step's spike: a alpha_adapt. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(alif_decay_adapt)(AXONAL_T a, AXONAL_T alpha_adapt) {
  return a * alpha_adapt;
}

/* ALIF effective threshold v_th + a (a: the decayed adaptation). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(alif_threshold)(AXONAL_T v_th, AXONAL_T a) {
  return v_th + a;
}

/* ALIF adaptation after the step's spike z: a + delta_th z. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(alif_adapt_after)(AXONAL_T a, AXONAL_T delta_th, AXONAL_T z) {
  return a + delta_th * z;
}

/* The spike, 1 where u = v - threshold > 0 (strictly), else 0 (surrogate.heaviside). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(heaviside)(AXONAL_T u) {
  return u > (AXONAL_T)0 ? (AXONAL_T)1 : (AXONAL_T)0;
}

/* Membrane after the reset `mode` (AXONAL_RESET_*), given the pre-reset membrane v, the spike z
 * (0 / 1), the distance a soft reset subtracts (gap = threshold - v_reset) and v_reset
 * (apply_reset). Only gap (subtract) or v_reset (zero) is read. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(reset)(AXONAL_T v, AXONAL_T z, AXONAL_T gap,
                                             AXONAL_T v_reset, int mode) {
  return mode == AXONAL_RESET_SUBTRACT ? v - z * gap
       : mode == AXONAL_RESET_ZERO     ? (z > (AXONAL_T)0 ? v_reset : v)
                                       : v;
}

/* The remaining refractory time after a step of Brian2's gate (refractory_gate), given the
 * step's spike z and what remains of the countdown (refractory_remaining): t_ref where it
 * fired. While the gate is closed (refractory_active) the membrane keeps its value from before
 * the step and z is 0. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(refractory_after)(AXONAL_T z, AXONAL_T t_ref,
                                                        AXONAL_T remaining) {
  return z > (AXONAL_T)0 ? t_ref : remaining;
}

/* ----------------------------------------------------------------------------- backward */

/* Pseudo-derivative of the spike at u = v - threshold for surrogate `kind` (AXONAL_SURROGATE_*)
 * with slope k (the classes' grad in axonal.functional.surrogate). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(surrogate_grad)(AXONAL_T k, AXONAL_T u, int kind) {
  switch (kind) {
    case AXONAL_SURROGATE_FAST_SIGMOID: {
      const AXONAL_T d = (AXONAL_T)1 + k * AXONAL_ABS(u);
      return (AXONAL_T)1 / (d * d);
    }
    case AXONAL_SURROGATE_ATAN: {
      const AXONAL_T y = (AXONAL_T)AXONAL_HALF_PI * k * u;
      return (k / (AXONAL_T)2) / ((AXONAL_T)1 + y * y);
    }
    case AXONAL_SURROGATE_SIGMOID: {
      const AXONAL_T s = (AXONAL_T)1 / ((AXONAL_T)1 + AXONAL_EXP(-k * u));
      return k * s * ((AXONAL_T)1 - s);
    }
    case AXONAL_SURROGATE_TRIANGLE: {
      const AXONAL_T y = (AXONAL_T)1 - k * AXONAL_ABS(u);
      return y > (AXONAL_T)0 ? k * y : (AXONAL_T)0;
    }
    case AXONAL_SURROGATE_STRAIGHT_THROUGH:
    default:
      return k;
  }
}

/* Gradient reaching u = v - threshold from the spike's gradient g_z: add it to v, subtract it
 * from the threshold. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(spike_backward)(AXONAL_T g_z, AXONAL_T k, AXONAL_T u,
                                                      int kind) {
  return g_z * AXONAL_FN(surrogate_grad)(k, u, kind);
}

/* Backward through the reset: returns dL/dv_pre from dL/dv_new (g_v), adds to dL/dz (g_z; only
 * when the reset is attached, attached = 1) and sets dL/dgap (g_gap, -z g_v for a soft reset). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(reset_backward)(AXONAL_T g_v, AXONAL_T z, AXONAL_T gap,
                                                      AXONAL_T v_reset, AXONAL_T v_pre,
                                                      AXONAL_T attached, int mode,
                                                      AXONAL_OUT(AXONAL_T) g_z,
                                                      AXONAL_OUT(AXONAL_T) g_gap) {
  if (mode == AXONAL_RESET_SUBTRACT) {
    AXONAL_REF(g_z) -= attached * g_v * gap;
    AXONAL_REF(g_gap) = -g_v * z;
    return g_v;
  }
  AXONAL_REF(g_gap) = (AXONAL_T)0;
  if (mode == AXONAL_RESET_ZERO) {
    AXONAL_REF(g_z) += attached * g_v * (v_reset - v_pre);
    return g_v * ((AXONAL_T)1 - z);
  }
  return g_v;
}

/* Backward through refractory_after(z, t_ref, refractory_remaining(refractory, dt)) from
 * g = dL/d(refractory after the step): dL/d(refractory before it). torch.clamp passes the
 * gradient where its input is >= 0 (or nan), the spike's t_ref takes none. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(refractory_backward)(AXONAL_T g, AXONAL_T z,
                                                           AXONAL_T refractory, AXONAL_T dt) {
  return z > (AXONAL_T)0 ? (AXONAL_T)0 : (refractory - dt < (AXONAL_T)0 ? (AXONAL_T)0 : g);
}

/* Backward through the spike z = heaviside(v_pre - thr) and the reset v_new = reset(v_pre, z,
 * thr - v_reset, v_reset): from g_v = dL/dv_new and g_z = dL/dz (the spike's own gradient),
 * sets dL/dthr (g_thr) and returns dL/dv_pre. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(fire_reset_backward)(AXONAL_T g_v, AXONAL_T g_z, AXONAL_T z,
                                                           AXONAL_T thr, AXONAL_T v_reset,
                                                           AXONAL_T v_pre, AXONAL_T attached,
                                                           AXONAL_T k, int mode, int kind,
                                                           AXONAL_OUT(AXONAL_T) g_thr) {
  AXONAL_T gz = g_z, g_gap;
  const AXONAL_T gv = AXONAL_FN(reset_backward)(g_v, z, thr - v_reset, v_reset, v_pre, attached,
                                                mode, AXONAL_ADDR(gz), AXONAL_ADDR(g_gap));
  const AXONAL_T sg = AXONAL_FN(spike_backward)(gz, k, v_pre - thr, kind);
  AXONAL_REF(g_thr) = g_gap - sg;
  return gv + sg;
}

/* Backward through lif_membrane from g = dL/dv_pre, with d = v - v_inf: sets dL/dx (g_x),
 * adds dL/dalpha (g_alpha), returns dL/dv. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(lif_membrane_backward)(AXONAL_T g, AXONAL_T d,
                                                             AXONAL_T alpha, AXONAL_T r,
                                                             AXONAL_OUT(AXONAL_T) g_x,
                                                             AXONAL_OUT(AXONAL_T) g_alpha) {
  AXONAL_REF(g_x) = g * ((AXONAL_T)1 - alpha) * r;
  AXONAL_REF(g_alpha) += g * d;
  return g * alpha;
}

/* Backward through cuba_membrane and cuba_current from g = dL/dv_pre and g_i = dL/di_new (in;
 * out: dL/di), with dv = v - v_inf and d = i - x: sets dL/dx (g_x), adds dL/dalpha, dL/dalpha_syn
 * and dL/dkernel, returns dL/dv. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(cuba_backward)(
    AXONAL_T g, AXONAL_T dv, AXONAL_T d, AXONAL_T alpha, AXONAL_T alpha_syn, AXONAL_T kernel,
    AXONAL_T r, AXONAL_OUT(AXONAL_T) g_i, AXONAL_OUT(AXONAL_T) g_x,
    AXONAL_OUT(AXONAL_T) g_alpha, AXONAL_OUT(AXONAL_T) g_alpha_syn,
    AXONAL_OUT(AXONAL_T) g_kernel) {
  const AXONAL_T gi = AXONAL_REF(g_i);
  AXONAL_REF(g_alpha) += g * dv;
  AXONAL_REF(g_kernel) += g * r * d;
  AXONAL_REF(g_alpha_syn) += gi * d;
  const AXONAL_T gd = g * r * kernel + gi * alpha_syn;
  AXONAL_REF(g_x) = g * ((AXONAL_T)1 - alpha) * r + gi - gd;
  AXONAL_REF(g_i) = gd;
  return g * alpha;
}

/* Backward through alif_adapt_after from g_a = dL/da_new: adds dL/ddelta_th (g_delta), returns
 * the share of dL/dz. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(alif_adapt_after_backward)(AXONAL_T g_a, AXONAL_T z,
                                                                 AXONAL_T delta_th,
                                                                 AXONAL_OUT(AXONAL_T) g_delta) {
  AXONAL_REF(g_delta) += g_a * z;
  return g_a * delta_th;
}

/* Backward through alif_decay_adapt from g = dL/da_decayed: adds dL/dalpha_adapt, returns
 * dL/da. */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(alif_decay_adapt_backward)(AXONAL_T g, AXONAL_T a,
                                                                 AXONAL_T alpha_adapt,
                                                                 AXONAL_OUT(AXONAL_T) g_alpha_adapt) {
  AXONAL_REF(g_alpha_adapt) += g * a;
  return g * alpha_adapt;
}

/* ------------------------------------------------------------------ refractory countdown */

/* Remaining refractory time after this step (refractory.refractory_gate): refr - dt, clamped
 * at 0 (s). */
AXONAL_MATH_INLINE AXONAL_T AXONAL_FN(refractory_remaining)(AXONAL_T refr, AXONAL_T dt) {
  const AXONAL_T rem = refr - dt;
  return rem < (AXONAL_T)0 ? (AXONAL_T)0 : rem;
}

/* 1 when a neuron with `remaining` refractory time (after this step's dt) is active: its
 * membrane updates and it may fire. `limit` is refractory.refractory_limit(dt) =
 * (1 - 1e-3) dt computed in double and rounded to AXONAL_T, the value torch compares with
 * (Brian2's timestep: t_ref / dt rounded down). */
AXONAL_MATH_INLINE int AXONAL_FN(refractory_active)(AXONAL_T remaining, AXONAL_T limit) {
  return remaining < limit;
}

#undef AXONAL_FN
#ifndef __cplusplus
#undef AXONAL_FN_
#undef AXONAL_FN__
#endif
