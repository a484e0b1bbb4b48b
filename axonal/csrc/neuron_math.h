/* The neuron equations of axonal's compiled code, written once.
 *
 * Included by the fused CPU kernels (kernels/fused_cpu.cpp, C++), the event-driven kernel
 * (kernels/sparse_cpu.cpp, C++) and the simulator's native loop (sim/_native.c, C). Each
 * function mirrors its reference in axonal.functional (same operations in the same order);
 * every build turns floating-point contraction off (-ffp-contract=off), so the compiled
 * forward passes give the reference's spikes bit for bit.
 *
 * The bodies are in neuron_math_body.h, included here once per floating type: in C++ the
 * functions are overloads (axonal_lif_membrane(v, ...) for float and double), in C they carry
 * the type as a suffix (axonal_lif_membrane_f, axonal_lif_membrane_d). All are static inline
 * and always inlined, so the mode and kind arguments fold away where they are constants and
 * the per-neuron loops that call them still vectorise.
 *
 * Pieces (x the input current, v the membrane, alpha = exp(-dt / tau) a decay per step):
 *   steady_state, relax, lif_membrane       exact exponential leaky membrane (lif_step)
 *   cuba_membrane, cuba_current             current-based synapse + membrane (cuba_lif_step)
 *   alif_decay_adapt, alif_threshold,        threshold adaptation (alif_step)
 *   alif_adapt_after
 *   heaviside                               spike where (v - threshold) > 0
 *   reset                                   ResetMode (subtract / zero / none)
 *   refractory_remaining,                   Brian2's refractory gate (refractory_gate)
 *   refractory_active, refractory_after
 *   surrogate_grad                          the registered surrogates' pseudo-derivatives
 * and the backward pieces: reset_backward, spike_backward, fire_reset_backward (the two
 * together), refractory_backward, lif_membrane_backward, cuba_backward,
 * alif_adapt_after_backward, alif_decay_adapt_backward.
 */
#ifndef AXONAL_NEURON_MATH_H
#define AXONAL_NEURON_MATH_H

#include "codes.h"

#ifdef __cplusplus
#include <cmath>
#else
#include <math.h>
#endif

#if AXONAL_RESET_COUNT != 3 || AXONAL_SURROGATE_COUNT != 5
#error "codes.h has a reset mode or surrogate that neuron_math_body.h does not implement yet"
#endif

#define AXONAL_MATH_INLINE static inline __attribute__((always_inline))
#define AXONAL_HALF_PI 1.57079632679489661923 /* pi / 2, as torch's math.pi / 2.0 */

/* Output arguments: references in C++, pointers in C (AXONAL_ADDR passes a local as one). */
#ifdef __cplusplus
#define AXONAL_OUT(T) T&
#define AXONAL_REF(x) x
#define AXONAL_ADDR(x) x
#else
#define AXONAL_OUT(T) T*
#define AXONAL_REF(x) (*x)
#define AXONAL_ADDR(x) (&x)
#endif

#define AXONAL_T float
#define AXONAL_SUFFIX f
#ifdef __cplusplus
#define AXONAL_ABS std::abs
#define AXONAL_EXP std::exp
#else
#define AXONAL_ABS fabsf
#define AXONAL_EXP expf
#endif
#include "neuron_math_body.h"
#undef AXONAL_T
#undef AXONAL_SUFFIX
#undef AXONAL_ABS
#undef AXONAL_EXP

#define AXONAL_T double
#define AXONAL_SUFFIX d
#ifdef __cplusplus
#define AXONAL_ABS std::abs
#define AXONAL_EXP std::exp
#else
#define AXONAL_ABS fabs
#define AXONAL_EXP exp
#endif
#include "neuron_math_body.h"
#undef AXONAL_T
#undef AXONAL_SUFFIX
#undef AXONAL_ABS
#undef AXONAL_EXP

#endif /* AXONAL_NEURON_MATH_H */
