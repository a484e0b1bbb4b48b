/* Native event-driven loop of axonal.sim for LIF and ALIF populations (float32).
 *
 * Mirrors, operation for operation in float32, axonal.functional.neurons.lif.lif_step and
 * alif.alif_step (membrane, adaptation, threshold, reset and the refractory countdown are the
 * shared functions of ../csrc/neuron_math.h), axonal.functional.synapses (exp_synapse_step,
 * conductance_current), the exponential channels' input factor of axonal/sim/synapses.py
 * (x += g * factor: the exact integration of the decaying current into the leaky membrane) and
 * the ring-buffer delivery of axonal/sim/delivery.py; tests check it against the torch path
 * bit for bit.
 * Compiled at first use by axonal/sim/native.py (plain C, no torch headers; -march=native
 * with -ffp-contract=off, so vector code rounds exactly like the scalar torch operations).
 *
 * Per step k:
 *   1. every population in order: LIF / ALIF populations run in blocks of BLK neurons; per
 *      block, each input channel first finishes its update of step k-1 (g = g * decay + due
 *      row, due row cleared: deferred from step k-1 so that it shares the pass over memory) and
 *      adds its current to x (exponential channels: g times their input factor), then a
 *      branch-free (vectorised) pass updates v (ALIF: and a) and the refractory timers and
 *      writes one byte per neuron (spiked or not), then a scan of those bytes, eight
 *      at a time, appends the spiking ids in ascending order; Poisson sources and spike
 *      generators append their spikes;
 *   2. delivery of this step's spikes into the ring buffers, source by source in order;
 *   3. (deferred to step k+1, or to the end of the call) channel update of step k.
 * Moving 3 into the next step's pass changes nothing: between the end of step k's delivery and
 * step k+1's neuron update nothing else reads or writes the channels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../csrc/neuron_math.h"

#define RESTRICT __restrict__
#define INLINE static inline __attribute__((always_inline))
#define BLK 512
#define PF 32 /* synapses ahead whose ring element is prefetched in delivery */
#define TMAX 8 /* most steps per pass over the neurons */

typedef struct {
    int32_t kind;          /* AXONAL_SIM_SOURCE_*: LIF, Poisson, spike generator */
    int32_t offset, n;     /* neurons [offset, offset + n) of the global arrays */
    int32_t has_ref;       /* t_ref > 0 */
    int32_t adapt;         /* ALIF: adaptive threshold (state a) */
    int32_t reset;         /* ResetMode.code: AXONAL_RESET_* of ../csrc/codes.h */
    int32_t uniform;       /* all neuron parameters equal within the population */
    int32_t n_channels;
    int32_t *channels;     /* channel indices feeding this population, in input order */
    int32_t n_proj;
    int32_t *projs;        /* outgoing projections, in delivery order */
} Pop;

typedef struct {
    int32_t type;          /* AXONAL_SIM_CHANNEL_*: current (x += g), conductance (x += g (e - v)), delta */
    int32_t offset, n, depth;
    float decay, e_rev;
    float coef;            /* current channels: x += g * coef (when coef_arr is NULL) */
    const float *coef_arr; /* current channels: x += g[i] * coef_arr[i], per neuron */
    float *g, *ring;       /* g [n], ring [depth, n] */
} Chan;

typedef struct {
    int32_t channel;
    int32_t weight_scalar, delay_type, delay_scalar; /* delay_type: AXONAL_SIM_DELAY_* */
    float w;
    const int64_t *indptr;
    const int32_t *post;
    const float *weight;
    const void *delay;
} Proj;

/* Neuron parameters and state, global arrays (index = global neuron id). */
typedef struct {
    float *v, *refr, *a;
    const float *v_leak, *r, *decay, *v_th, *reset_value, *t_ref, *current, *alpha_adapt,
        *delta_th;
} Neurons;

static inline uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline double uniform01(uint64_t *s) { return (splitmix(s) >> 11) * (1.0 / 9007199254740992.0); }

/* Poisson count with mean lam (exp(-lam) given), by inversion of the CDF. */
static inline int32_t poisson(uint64_t *s, double lam, double emlam) {
    double u = uniform01(s), p = emlam, c = p;
    int32_t k = 0;
    while (u > c && k < 1000) { k++; p *= lam / k; c += p; }
    return k;
}

typedef struct { int64_t *steps; int32_t *ids; int64_t count, cap; } Out;

static int grow(Out *o) {
    int64_t cap = o->cap ? 2 * o->cap : 65536;
    int64_t *s = (int64_t *)realloc(o->steps, cap * sizeof(int64_t));
    if (!s) return -1;
    o->steps = s;
    int32_t *i = (int32_t *)realloc(o->ids, cap * sizeof(int32_t));
    if (!i) return -1;
    o->ids = i;
    o->cap = cap;
    return 0;
}

static inline int push(Out *o, int64_t step, int32_t id) {
    if (o->count == o->cap && grow(o)) return -1;
    o->steps[o->count] = step;
    o->ids[o->count++] = id;
    return 0;
}

void axonal_free(int64_t *steps, int32_t *ids) { free(steps); free(ids); }

/* Channel update of one step for neurons [a0, a0 + m) of channel c from ring row `due_row`:
 * g = g * decay + due (delta channels: g = due), due = 0. */
static void chan_update(const Chan *c, int32_t a0, int32_t m, float *RESTRICT due_row)
{
    float *RESTRICT g = c->g + a0;
    float *RESTRICT due = due_row + a0;
    if (c->type == AXONAL_SIM_CHANNEL_DELTA) {
        for (int32_t i = 0; i < m; i++) { g[i] = due[i]; due[i] = 0.0f; }
    } else {
        const float d = c->decay;
        for (int32_t i = 0; i < m; i++) { g[i] = g[i] * d + due[i]; due[i] = 0.0f; }
    }
}

/* Input of channel c to neurons [a0, a0 + m) added to xb (set, from 0, when `first`), after
 * the channel's pending update of step k - 1 when `update`: x += g * coef (exponential current;
 * coef per neuron or one value), x += g (e_rev - v) (conductance), x += g (delta). */
static void chan_input(const Chan *c, int update, int64_t k, int32_t a0, int32_t m,
                       const float *RESTRICT v, float *RESTRICT xb, int first)
{
    if (update) chan_update(c, a0, m, c->ring + ((k - 1) % c->depth) * c->n);
    const float *RESTRICT g = c->g + a0;
    if (c->type == AXONAL_SIM_CHANNEL_CONDUCTANCE) {
        const float e = c->e_rev;
        if (first) for (int32_t i = 0; i < m; i++) xb[i] = 0.0f + g[i] * (e - v[i]);
        else for (int32_t i = 0; i < m; i++) xb[i] += g[i] * (e - v[i]);
    } else if (c->type == AXONAL_SIM_CHANNEL_CURRENT && c->coef_arr) {
        const float *RESTRICT f = c->coef_arr + a0;
        if (first) for (int32_t i = 0; i < m; i++) xb[i] = 0.0f + g[i] * f[i];
        else for (int32_t i = 0; i < m; i++) xb[i] += g[i] * f[i];
    } else if (c->type == AXONAL_SIM_CHANNEL_CURRENT) {
        const float f = c->coef;
        if (first) for (int32_t i = 0; i < m; i++) xb[i] = 0.0f + g[i] * f;
        else for (int32_t i = 0; i < m; i++) xb[i] += g[i] * f;
    } else {
        if (first) for (int32_t i = 0; i < m; i++) xb[i] = 0.0f + g[i];
        else for (int32_t i = 0; i < m; i++) xb[i] += g[i];
    }
}

/* Per-neuron parameters of a population: arrays, or (uniform) the values themselves. */
typedef struct {
    const float *v_leak, *r, *decay, *v_th, *reset_value, *t_ref, *current, *alpha_adapt,
        *delta_th;
} ParamArrays;
typedef struct {
    float v_leak, r, decay, v_th, reset_value, t_ref, current, alpha_adapt, delta_th;
} ParamValues;

/* LIF / ALIF update of m neurons (lif_step / alif_step in float32, same operations in the same
 * order), branch-free so that it vectorises: v, a (ALIF) and the refractory timers in place,
 * fl[i] = 1 where neuron i spiked. P is ParamValues (uniform population) or ParamArrays indexed
 * from a0. For LIF, reset_value is v_th - v_reset for a subtracting reset and v_reset
 * otherwise (axonal_reset reads only the one its mode needs); for ALIF it is v_reset and the
 * subtracted distance is the effective threshold's, (v_th + a) - v_reset. A neuron is active
 * once its remaining refractory time is below ref_limit = (1 - 1e-3) dt (refractory.py). */
#define NEURON_BODY(GET)                                                                    \
    _Pragma("GCC ivdep") /* the arrays are distinct: no alias checks */                     \
    for (int32_t i = 0; i < m; i++) {                                                       \
        const float xi = xb[i] + GET(current);                                              \
        const float v0 = vv[i];                                                             \
        float vn = axonal_lif_membrane_f(v0, xi, GET(v_leak), GET(r), GET(decay));          \
        float an = 0.0f, thr = GET(v_th);                                                   \
        if (adapt) {                                                                        \
            an = axonal_alif_decay_adapt_f(aa[i], GET(alpha_adapt));                        \
            thr = axonal_alif_threshold_f(GET(v_th), an);                                   \
        }                                                                                   \
        const int above = axonal_heaviside_f(vn - thr) > 0.0f;                              \
        int fire;                                                                           \
        if (has_ref) {                                                                      \
            const float rem = axonal_refractory_remaining_f(rr[i], dt);                     \
            const int active = axonal_refractory_active_f(rem, ref_limit);                  \
            /* the threshold test above used the updated v: equal to testing the selected \
             * v when active, unused otherwise */                                           \
            vn = active ? vn : v0;                                                          \
            fire = active & above;                                                          \
            rr[i] = fire ? GET(t_ref) : rem;                                                \
        } else {                                                                            \
            fire = above;                                                                   \
        }                                                                                   \
        /* reset: selects on the loop-invariant mode (branch-free) */                      \
        const float gap = adapt ? thr - GET(reset_value) : GET(reset_value);                \
        vn = axonal_reset_f(vn, (float)fire, gap, GET(reset_value), reset);                 \
        if (adapt) aa[i] = axonal_alif_adapt_after_f(an, GET(delta_th), (float)fire);       \
        vv[i] = vn;                                                                         \
        fl[i] = (uint8_t)fire;                                                              \
    }

#define GET_VALUE(name) (name##_v)
#define GET_ARRAY(name) (name##_p[i])

INLINE void neurons_values(int32_t m, float *RESTRICT vv, float *RESTRICT rr,
                           float *RESTRICT aa, const float *RESTRICT xb, uint8_t *RESTRICT fl,
                           const ParamValues *RESTRICT P, float dt, float ref_limit,
                           const int has_ref, const int adapt, const int reset)
{
    const float current_v = P->current, v_leak_v = P->v_leak, r_v = P->r, decay_v = P->decay,
                v_th_v = P->v_th, reset_value_v = P->reset_value, t_ref_v = P->t_ref,
                alpha_adapt_v = P->alpha_adapt, delta_th_v = P->delta_th;
    (void)alpha_adapt_v; (void)delta_th_v;
    NEURON_BODY(GET_VALUE)
}

INLINE void neurons_arrays(int32_t m, int32_t a0, float *RESTRICT vv, float *RESTRICT rr,
                           float *RESTRICT aa, const float *RESTRICT xb, uint8_t *RESTRICT fl,
                           const ParamArrays *RESTRICT P, float dt, float ref_limit,
                           const int has_ref, const int adapt, const int reset)
{
    const float *RESTRICT current_p = P->current + a0, *RESTRICT v_leak_p = P->v_leak + a0,
                *RESTRICT r_p = P->r + a0, *RESTRICT decay_p = P->decay + a0,
                *RESTRICT v_th_p = P->v_th + a0, *RESTRICT reset_value_p = P->reset_value + a0,
                *RESTRICT t_ref_p = P->t_ref + a0,
                *RESTRICT alpha_adapt_p = P->alpha_adapt + a0,
                *RESTRICT delta_th_p = P->delta_th + a0;
    (void)alpha_adapt_p; (void)delta_th_p;
    NEURON_BODY(GET_ARRAY)
}

/* The eight compiled kernels: uniform or per-neuron parameters x refractory or not x LIF or
 * ALIF, each with has_ref and adapt constant; reset is a loop-invariant select. */
#define VALUES_KERNEL(NAME, REF, ADAPT)                                                     \
    static __attribute__((noinline)) void NAME(                                             \
        int32_t m, float *RESTRICT vv, float *RESTRICT rr, float *RESTRICT aa,              \
        const float *RESTRICT xb, uint8_t *RESTRICT fl, const ParamValues *RESTRICT P,      \
        float dt, float ref_limit, int reset)                                               \
    { neurons_values(m, vv, rr, aa, xb, fl, P, dt, ref_limit, REF, ADAPT, reset); }
#define ARRAYS_KERNEL(NAME, REF, ADAPT)                                                     \
    static __attribute__((noinline)) void NAME(                                             \
        int32_t m, int32_t a0, float *RESTRICT vv, float *RESTRICT rr, float *RESTRICT aa,  \
        const float *RESTRICT xb, uint8_t *RESTRICT fl, const ParamArrays *RESTRICT P,      \
        float dt, float ref_limit, int reset)                                               \
    { neurons_arrays(m, a0, vv, rr, aa, xb, fl, P, dt, ref_limit, REF, ADAPT, reset); }
VALUES_KERNEL(lif_values_ref, 1, 0)
VALUES_KERNEL(lif_values_noref, 0, 0)
VALUES_KERNEL(alif_values_ref, 1, 1)
VALUES_KERNEL(alif_values_noref, 0, 1)
ARRAYS_KERNEL(lif_arrays_ref, 1, 0)
ARRAYS_KERNEL(lif_arrays_noref, 0, 0)
ARRAYS_KERNEL(alif_arrays_ref, 1, 1)
ARRAYS_KERNEL(alif_arrays_noref, 0, 1)

/* Spiking ids of the LIF populations during one pass: per step t of the pass, ids[t] holds
 * them population after population (ascending within each), seg[t * n_pops + i] where
 * population i's run ends. */
typedef struct { int32_t *ids[TMAX]; int64_t count[TMAX]; int64_t *seg; } PassSpikes;

/* Steps k .. k + T - 1 of LIF / ALIF population p, block of BLK neurons after block: per step, the
 * input of every channel (after finishing the channels' update of the previous step, unless
 * that is the step before the pass and not `pending`), the membrane update, then the spiking
 * ids appended to sp->ids[t] in ascending order. Valid when no spike of these steps can reach
 * a channel before step k + T (the caller's T <= shortest delay + 1): the T steps only read
 * ring rows that are complete before the pass. uniform and has_ref are literals at each call
 * site, so each combination compiles to its own branch-free loop (reset is a loop-invariant
 * select). */
static void lif_pop(const Pop *RESTRICT p, const Chan *RESTRICT ch, const Neurons *RESTRICT nr,
                    int pending, int64_t k, int T, float dt, float ref_limit,
                    PassSpikes *RESTRICT sp)
{
    const int uniform = p->uniform, has_ref = p->has_ref, adapt = p->adapt;
    const int32_t o = p->offset, n = p->n, reset = p->reset;
    if (n <= 0) return;
    float *RESTRICT v = nr->v + o;
    float *RESTRICT refr = nr->refr + o;
    float *RESTRICT ad = nr->a + o;
    const ParamArrays arr = {nr->v_leak + o, nr->r + o, nr->decay + o, nr->v_th + o,
                             nr->reset_value + o, nr->t_ref + o, nr->current + o,
                             nr->alpha_adapt + o, nr->delta_th + o};
    const ParamValues uni = {arr.v_leak[0], arr.r[0], arr.decay[0], arr.v_th[0],
                             arr.reset_value[0], arr.t_ref[0], arr.current[0],
                             arr.alpha_adapt[0], arr.delta_th[0]};
    float xb[BLK];
    uint8_t fl[BLK] __attribute__((aligned(64)));
    for (int32_t a0 = 0; a0 < n; a0 += BLK) {
        const int32_t m = n - a0 < BLK ? n - a0 : BLK;
        for (int t = 0; t < T; t++) {
            const int update = pending || t > 0;
            if (p->n_channels == 0) memset(xb, 0, (size_t)m * sizeof(float));
            for (int32_t cc = 0; cc < p->n_channels; cc++)
                chan_input(&ch[p->channels[cc]], update, k + t, a0, m, v + a0, xb, cc == 0);
            float *vb = v + a0, *rb = refr + a0, *ab = ad + a0;
            const float lim = ref_limit;
            if (uniform) {
                if (adapt) {
                    if (has_ref) alif_values_ref(m, vb, rb, ab, xb, fl, &uni, dt, lim, reset);
                    else alif_values_noref(m, vb, rb, ab, xb, fl, &uni, dt, lim, reset);
                } else {
                    if (has_ref) lif_values_ref(m, vb, rb, ab, xb, fl, &uni, dt, lim, reset);
                    else lif_values_noref(m, vb, rb, ab, xb, fl, &uni, dt, lim, reset);
                }
            } else {
                if (adapt) {
                    if (has_ref) alif_arrays_ref(m, a0, vb, rb, ab, xb, fl, &arr, dt, lim, reset);
                    else alif_arrays_noref(m, a0, vb, rb, ab, xb, fl, &arr, dt, lim, reset);
                } else {
                    if (has_ref) lif_arrays_ref(m, a0, vb, rb, ab, xb, fl, &arr, dt, lim, reset);
                    else lif_arrays_noref(m, a0, vb, rb, ab, xb, fl, &arr, dt, lim, reset);
                }
            }
            /* the spiking ids, in ascending order: eight flags at a time, 64 at a time skipped */
            int32_t *RESTRICT ids = sp->ids[t];
            int64_t cnt = sp->count[t];
            const int32_t base = o + a0;
            int32_t i = 0;
            for (; i + 64 <= m; i += 64) {
                uint64_t w[8], any = 0;
                memcpy(w, fl + i, 64);
                for (int b = 0; b < 8; b++) any |= w[b];
                if (!any) continue;
                for (int b = 0; b < 8; b++) {
                    uint64_t x = w[b];
                    while (x) {
                        ids[cnt++] = base + i + 8 * b + (__builtin_ctzll(x) >> 3);
                        x &= x - 1;
                    }
                }
            }
            for (; i < m; i++)
                if (fl[i]) ids[cnt++] = base + i;
            sp->count[t] = cnt;
        }
    }
}

/* Delivery of the spikes ids[s, s_end) of population p (global ids) at step k: the targets of
 * each spike's CSR rows get their weights added in the ring rows of their delays. The ring
 * element PF synapses ahead is prefetched (the targets are scattered over the ring rows). */
static int64_t deliver(const Pop *p, const Proj *pr, const Chan *ch, const int32_t *ids,
                       int64_t s, int64_t s_end, int64_t k)
{
    int64_t ev = 0;
    for (int jj = 0; jj < p->n_proj; jj++) {
        const Proj *j = &pr[p->projs[jj]];
        const Chan *c = &ch[j->channel];
        const int64_t base = k % c->depth, depth = c->depth, cn = c->n;
        const int32_t *RESTRICT post = j->post;
        const float *RESTRICT wt = j->weight;
        const float w = j->w;
        float *RESTRICT ring = c->ring;
        for (int64_t e = s; e < s_end; e++) {
            const int32_t pre = ids[e] - p->offset;
            const int64_t lo = j->indptr[pre], hi = j->indptr[pre + 1];
            ev += hi - lo;
            int64_t y = lo;
            if (j->delay_type == AXONAL_SIM_DELAY_SCALAR) {
                int64_t slot = base + j->delay_scalar;
                if (slot >= depth) slot -= depth;
                float *RESTRICT row = ring + slot * cn;
                if (j->weight_scalar) {
                    for (; y + PF < hi; y++) {
                        __builtin_prefetch(row + post[y + PF], 1, 3);
                        row[post[y]] += w;
                    }
                    for (; y < hi; y++) row[post[y]] += w;
                } else {
                    for (; y + PF < hi; y++) {
                        __builtin_prefetch(row + post[y + PF], 1, 3);
                        row[post[y]] += wt[y];
                    }
                    for (; y < hi; y++) row[post[y]] += wt[y];
                }
            } else {
#define DELAY_LOOP(T)                                                                        \
                {                                                                            \
                    const T *RESTRICT dl = (const T *)j->delay;                              \
                    for (; y < hi; y++) {                                                    \
                        if (y + PF < hi) {                                                   \
                            int64_t sf = base + dl[y + PF];                                  \
                            if (sf >= depth) sf -= depth;                                    \
                            __builtin_prefetch(ring + sf * cn + post[y + PF], 1, 3);         \
                        }                                                                    \
                        int64_t slot = base + dl[y];                                         \
                        if (slot >= depth) slot -= depth;                                    \
                        ring[slot * cn + post[y]] += j->weight_scalar ? w : wt[y];           \
                    }                                                                        \
                }
                switch (j->delay_type) {
                    case AXONAL_SIM_DELAY_UINT8: DELAY_LOOP(uint8_t) break;
                    case AXONAL_SIM_DELAY_INT16: DELAY_LOOP(int16_t) break;
                    default: DELAY_LOOP(int32_t) break;
                }
#undef DELAY_LOOP
            }
        }
    }
    return ev;
}

/* Run n_steps from step0. Returns 0, or -1 when out of memory.
 * Spikes (step, global id) are appended to the growable output (*out_*). */
int axonal_run(int64_t step0, int64_t n_steps, float dt, float ref_limit, int32_t t_block,
               int32_t n_pops, const int32_t *pop_meta, const int32_t *pop_lists,
               int32_t n_chan, const int32_t *chan_meta, const float *chan_f, float **chan_g,
               float **chan_ring, const float **chan_coef,
               int32_t n_proj, const int32_t *proj_meta, const float *proj_w,
               const int64_t **proj_indptr, const int32_t **proj_post, const float **proj_weight,
               const void **proj_delay,
               float *v, float *refr, float *adapt, const float *v_leak, const float *r,
               const float *decay, const float *v_th, const float *reset_value,
               const float *t_ref, const float *current, const float *alpha_adapt,
               const float *delta_th,
               const double *lam, uint64_t *rng,
               const int64_t *gen_steps, const int32_t *gen_ids, int64_t n_gen, int64_t *gen_pos,
               int64_t **out_steps, int32_t **out_ids, int64_t *out_count, int64_t *out_cap,
               int64_t *events)
{
    Pop *pops = (Pop *)calloc(n_pops > 0 ? n_pops : 1, sizeof(Pop));
    Chan *ch = (Chan *)calloc(n_chan > 0 ? n_chan : 1, sizeof(Chan));
    Proj *pr = (Proj *)calloc(n_proj > 0 ? n_proj : 1, sizeof(Proj));
    double *emlam = NULL;
    PassSpikes sp;
    memset(&sp, 0, sizeof(sp));
    int rc = 0;
    Out out = {*out_steps, *out_ids, *out_count, *out_cap};
    const Neurons nr = {v, refr, adapt, v_leak, r, decay, v_th, reset_value, t_ref, current,
                        alpha_adapt, delta_th};
    if (!pops || !ch || !pr) { rc = -1; goto done; }
    const int32_t *lists = pop_lists;
    int32_t n_total = 0;
    for (int i = 0; i < n_pops; i++) {
        const int32_t *m = pop_meta + 9 * i;
        Pop *p = &pops[i];
        p->kind = m[0]; p->offset = m[1]; p->n = m[2]; p->has_ref = m[3]; p->reset = m[4];
        p->uniform = m[5]; p->n_channels = m[6]; p->n_proj = m[7]; p->adapt = m[8];
        p->channels = (int32_t *)lists; lists += p->n_channels;
        p->projs = (int32_t *)lists; lists += p->n_proj;
        if (p->offset + p->n > n_total) n_total = p->offset + p->n;
    }
    emlam = (double *)malloc((n_total > 0 ? n_total : 1) * sizeof(double));
    if (!emlam) { rc = -1; goto done; }
    for (int i = 0; i < n_total; i++) emlam[i] = lam[i] > 0 ? __builtin_exp(-lam[i]) : 1.0;
    for (int c = 0; c < n_chan; c++) {
        const int32_t *m = chan_meta + 4 * c;
        ch[c].type = m[0]; ch[c].offset = m[1]; ch[c].n = m[2]; ch[c].depth = m[3];
        ch[c].decay = chan_f[3 * c]; ch[c].e_rev = chan_f[3 * c + 1];
        ch[c].coef = chan_f[3 * c + 2]; ch[c].coef_arr = chan_coef[c];
        ch[c].g = chan_g[c]; ch[c].ring = chan_ring[c];
    }
    for (int j = 0; j < n_proj; j++) {
        const int32_t *m = proj_meta + 4 * j;
        pr[j].channel = m[0]; pr[j].weight_scalar = m[1]; pr[j].delay_type = m[2];
        pr[j].delay_scalar = m[3]; pr[j].w = proj_w[j];
        pr[j].indptr = proj_indptr[j]; pr[j].post = proj_post[j];
        pr[j].weight = proj_weight[j]; pr[j].delay = proj_delay[j];
    }
    const int T = t_block < 1 ? 1 : t_block > TMAX ? TMAX : t_block;
    sp.seg = (int64_t *)malloc((size_t)TMAX * (n_pops > 0 ? n_pops : 1) * sizeof(int64_t));
    if (!sp.seg) { rc = -1; goto done; }
    for (int t = 0; t < T; t++) {
        sp.ids[t] = (int32_t *)malloc((size_t)(n_total > 0 ? n_total : 1) * sizeof(int32_t));
        if (!sp.ids[t]) { rc = -1; goto done; }
    }
    int64_t ev = 0;
    int pending = 0; /* channel update of the step before this pass still to do */
    for (int64_t k = step0; k < step0 + n_steps; k += T) {
        const int Tk = step0 + n_steps - k < T ? (int)(step0 + n_steps - k) : T;
        /* 1. LIF populations, steps k .. k + Tk - 1 in one pass over their neurons */
        for (int t = 0; t < Tk; t++) sp.count[t] = 0;
        for (int i = 0; i < n_pops; i++) {
            if (pops[i].kind == AXONAL_SIM_SOURCE_LIF)
                lif_pop(&pops[i], ch, &nr, pending, k, Tk, dt, ref_limit, &sp);
            for (int t = 0; t < Tk; t++) sp.seg[t * n_pops + i] = sp.count[t];
        }
        pending = 1;
        for (int t = 0; t < Tk; t++) {
            const int64_t kk = k + t;
            /* 2. this step's spikes, population after population, appended to out */
            const int64_t first_spike = out.count;
            int64_t lif_from = 0;
            for (int i = 0; i < n_pops; i++) {
                const Pop *p = &pops[i];
                const int32_t o = p->offset, n = p->n;
                if (p->kind == AXONAL_SIM_SOURCE_LIF) {
                    const int64_t lif_to = sp.seg[t * n_pops + i];
                    for (int64_t e = lif_from; e < lif_to; e++)
                        if (push(&out, kk, sp.ids[t][e])) { rc = -1; goto done; }
                    lif_from = lif_to;
                } else if (p->kind == AXONAL_SIM_SOURCE_POISSON) {
                    for (int32_t a = 0; a < n; a++) {
                        const int32_t q = o + a;
                        if (lam[q] <= 0) continue;
                        const int32_t cnt = poisson(rng, lam[q], emlam[q]);
                        for (int32_t c = 0; c < cnt; c++)
                            if (push(&out, kk, q)) { rc = -1; goto done; }
                    }
                } else {
                    /* generator: entries sorted by (step, id) */
                    while (*gen_pos < n_gen && gen_steps[*gen_pos] < kk) (*gen_pos)++;
                    int32_t last = -1;
                    while (*gen_pos < n_gen && gen_steps[*gen_pos] == kk) {
                        const int32_t q = gen_ids[*gen_pos];
                        if (q >= o && q < o + n && q != last) {
                            if (push(&out, kk, q)) { rc = -1; goto done; }
                            last = q;
                        }
                        (*gen_pos)++;
                    }
                }
            }
            /* 3. delivery, source by source in order, projections in order */
            int64_t s = first_spike;
            for (int i = 0; i < n_pops; i++) {
                const Pop *p = &pops[i];
                int64_t s_end = s;
                while (s_end < out.count && out.ids[s_end] < p->offset + p->n
                       && out.ids[s_end] >= p->offset)
                    s_end++;
                if (s_end > s) ev += deliver(p, pr, ch, out.ids, s, s_end, kk);
                s = s_end;
            }
        }
        /* 4. the channel update of step k + Tk - 1 runs in the next pass */
    }
    if (pending) { /* finish the last step's channel update */
        const int64_t k = step0 + n_steps;
        for (int cidx = 0; cidx < n_chan; cidx++) {
            const Chan *c = &ch[cidx];
            float *due = c->ring + ((k - 1) % c->depth) * c->n;
            chan_update(c, 0, c->n, due);
        }
    }
    *events += ev;
done:
    *out_steps = out.steps; *out_ids = out.ids; *out_count = out.count; *out_cap = out.cap;
    for (int t = 0; t < TMAX; t++) free(sp.ids[t]);
    free(sp.seg);
    free(pops); free(ch); free(pr); free(emlam);
    return rc;
}

/* Stable counting sort of synapses by source: order[cursor[pre[y]]++] = y.
 * cursor starts as the CSR row starts (indptr[:-1]) and is consumed. */
void axonal_csr_order(int64_t n_syn, const int64_t *pre, int64_t *cursor, int64_t *order)
{
    for (int64_t y = 0; y < n_syn; y++) order[cursor[pre[y]]++] = y;
}

/* CSR targets of a fixed in-degree projection without materialising the targets: synapse y
 * goes from pre[y] to y / k. post_out[cursor[pre[y]]++] = y / k (stable). */
void axonal_csr_fill_indegree(int64_t n_syn, int64_t k, const int32_t *pre, int64_t *cursor,
                              int32_t *post_out)
{
    for (int64_t y = 0; y < n_syn; y++) post_out[cursor[pre[y]]++] = (int32_t)(y / k);
}
