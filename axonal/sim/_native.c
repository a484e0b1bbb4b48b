/* Native event-driven loop of axonal.sim for LIF populations (float32).
 *
 * Mirrors, operation for operation in float32, axonal.functional.neurons.lif.lif_step,
 * axonal.functional.synapses (exp_synapse_step, conductance_current) and the ring-buffer
 * delivery of axonal/sim/delivery.py; tests check it against the torch path.
 * Compiled at first use by axonal/sim/native.py (plain C, no torch headers).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t kind;          /* 0 LIF, 1 Poisson, 2 spike generator */
    int32_t offset, n;     /* neurons [offset, offset + n) of the global arrays */
    int32_t has_ref;       /* t_ref > 0 */
    int32_t reset;         /* 0 subtract, 1 zero, 2 none */
    int32_t n_channels;
    int32_t *channels;     /* channel indices feeding this population, in input order */
    int32_t n_proj;
    int32_t *projs;        /* outgoing projections, in delivery order */
} Pop;

typedef struct {
    int32_t type;          /* 0 current (x += g), 1 conductance (x += g (e - v)), 2 delta */
    int32_t offset, n, depth;
    float decay, e_rev;
    float *g, *ring;       /* g [n], ring [depth, n] */
} Chan;

typedef struct {
    int32_t channel;
    int32_t weight_scalar, delay_type, delay_scalar; /* delay_type: 0 scalar, 1 u8, 2 i16, 3 i32 */
    float w;
    const int64_t *indptr;
    const int32_t *post;
    const float *weight;
    const void *delay;
} Proj;

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

static int push(Out *o, int64_t step, int32_t id) {
    if (o->count == o->cap) {
        int64_t cap = o->cap ? 2 * o->cap : 65536;
        int64_t *s = (int64_t *)realloc(o->steps, cap * sizeof(int64_t));
        if (!s) return -1;
        o->steps = s;
        int32_t *i = (int32_t *)realloc(o->ids, cap * sizeof(int32_t));
        if (!i) return -1;
        o->ids = i;
        o->cap = cap;
    }
    o->steps[o->count] = step;
    o->ids[o->count++] = id;
    return 0;
}

void axonal_free(int64_t *steps, int32_t *ids) { free(steps); free(ids); }

/* Run n_steps from step0. Returns 0, or -1 when out of memory.
 * Spikes (step, global id) are appended to the growable output (*out_*). */
int axonal_run(int64_t step0, int64_t n_steps, float dt,
               int32_t n_pops, const int32_t *pop_meta, const int32_t *pop_lists,
               int32_t n_chan, const int32_t *chan_meta, const float *chan_f, float **chan_g,
               float **chan_ring,
               int32_t n_proj, const int32_t *proj_meta, const float *proj_w,
               const int64_t **proj_indptr, const int32_t **proj_post, const float **proj_weight,
               const void **proj_delay,
               float *v, float *refr, const float *v_leak, const float *r, const float *decay,
               const float *v_th, const float *reset_value, const float *t_ref, const float *current,
               const double *lam, uint64_t *rng,
               const int64_t *gen_steps, const int32_t *gen_ids, int64_t n_gen, int64_t *gen_pos,
               float *x, int32_t *spiking,
               int64_t **out_steps, int32_t **out_ids, int64_t *out_count, int64_t *out_cap,
               int64_t *events)
{
    Pop *pops = (Pop *)calloc(n_pops, sizeof(Pop));
    Chan *ch = (Chan *)calloc(n_chan > 0 ? n_chan : 1, sizeof(Chan));
    Proj *pr = (Proj *)calloc(n_proj > 0 ? n_proj : 1, sizeof(Proj));
    double *emlam = NULL;
    int rc = 0;
    Out out = {*out_steps, *out_ids, *out_count, *out_cap};
    if (!pops || !ch || !pr) { rc = -1; goto done; }
    const int32_t *lists = pop_lists;
    int32_t n_total = 0;
    for (int i = 0; i < n_pops; i++) {
        const int32_t *m = pop_meta + 7 * i;
        Pop *p = &pops[i];
        p->kind = m[0]; p->offset = m[1]; p->n = m[2]; p->has_ref = m[3]; p->reset = m[4];
        p->n_channels = m[5]; p->n_proj = m[6];
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
        ch[c].decay = chan_f[2 * c]; ch[c].e_rev = chan_f[2 * c + 1];
        ch[c].g = chan_g[c]; ch[c].ring = chan_ring[c];
    }
    for (int j = 0; j < n_proj; j++) {
        const int32_t *m = proj_meta + 4 * j;
        pr[j].channel = m[0]; pr[j].weight_scalar = m[1]; pr[j].delay_type = m[2];
        pr[j].delay_scalar = m[3]; pr[j].w = proj_w[j];
        pr[j].indptr = proj_indptr[j]; pr[j].post = proj_post[j];
        pr[j].weight = proj_weight[j]; pr[j].delay = proj_delay[j];
    }
    int64_t ev = 0;
    for (int64_t k = step0; k < step0 + n_steps; k++) {
        /* 1. neuron updates; spiking ids per population into spiking[] (ascending) */
        int64_t first_spike = out.count;
        int64_t *pop_start = (int64_t *)x; /* not used: keep x for inputs */
        (void)pop_start;
        for (int i = 0; i < n_pops; i++) {
            Pop *p = &pops[i];
            int32_t o = p->offset, n = p->n;
            if (p->kind == 0) {
                for (int32_t a = 0; a < n; a++) x[o + a] = 0.0f;
                for (int cc = 0; cc < p->n_channels; cc++) {
                    Chan *c = &ch[p->channels[cc]];
                    if (c->type == 1) {
                        for (int32_t a = 0; a < n; a++) x[o + a] += c->g[a] * (c->e_rev - v[o + a]);
                    } else {
                        for (int32_t a = 0; a < n; a++) x[o + a] += c->g[a];
                    }
                }
                for (int32_t a = 0; a < n; a++) {
                    int32_t q = o + a;
                    float xi = x[q] + current[q];
                    float v_inf = v_leak[q] + r[q] * xi;
                    float vn = v_inf + (v[q] - v_inf) * decay[q];
                    int fire;
                    if (p->has_ref) {
                        float rem = refr[q] - dt;
                        if (rem < 0.0f) rem = 0.0f;
                        int active = rem <= 0.5f * dt;
                        if (!active) vn = v[q];
                        fire = active && (vn - v_th[q] > 0.0f);
                        refr[q] = fire ? t_ref[q] : rem;
                    } else {
                        fire = vn - v_th[q] > 0.0f;
                    }
                    if (fire) {
                        if (p->reset == 0) vn = vn - reset_value[q];
                        else if (p->reset == 1) vn = reset_value[q];
                        if (push(&out, k, q)) { rc = -1; goto done; }
                    }
                    v[q] = vn;
                }
            } else if (p->kind == 1) {
                for (int32_t a = 0; a < n; a++) {
                    int32_t q = o + a;
                    if (lam[q] <= 0) continue;
                    int32_t cnt = poisson(rng, lam[q], emlam[q]);
                    for (int32_t t = 0; t < cnt; t++)
                        if (push(&out, k, q)) { rc = -1; goto done; }
                }
            } else {
                /* generator: entries sorted by (step, id) */
                while (*gen_pos < n_gen && gen_steps[*gen_pos] < k) (*gen_pos)++;
                int32_t last = -1;
                while (*gen_pos < n_gen && gen_steps[*gen_pos] == k) {
                    int32_t q = gen_ids[*gen_pos];
                    if (q >= o && q < o + n && q != last) {
                        if (push(&out, k, q)) { rc = -1; goto done; }
                        last = q;
                    }
                    (*gen_pos)++;
                }
            }
        }
        /* 2. delivery, source by source in order, projections in order */
        int64_t s = first_spike;
        for (int i = 0; i < n_pops; i++) {
            Pop *p = &pops[i];
            int64_t s_end = s;
            while (s_end < out.count && out.ids[s_end] < p->offset + p->n && out.ids[s_end] >= p->offset)
                s_end++;
            for (int jj = 0; jj < p->n_proj; jj++) {
                Proj *j = &pr[p->projs[jj]];
                Chan *c = &ch[j->channel];
                int64_t base = k % c->depth;
                for (int64_t e = s; e < s_end; e++) {
                    int32_t pre = out.ids[e] - p->offset;
                    int64_t lo = j->indptr[pre], hi = j->indptr[pre + 1];
                    ev += hi - lo;
                    const int32_t *post = j->post;
                    if (j->delay_type == 0) {
                        int64_t slot = base + j->delay_scalar;
                        if (slot >= c->depth) slot -= c->depth;
                        float *row = c->ring + slot * c->n;
                        if (j->weight_scalar) {
                            float w = j->w;
                            for (int64_t y = lo; y < hi; y++) row[post[y]] += w;
                        } else {
                            const float *w = j->weight;
                            for (int64_t y = lo; y < hi; y++) row[post[y]] += w[y];
                        }
                    } else {
                        for (int64_t y = lo; y < hi; y++) {
                            int64_t d;
                            switch (j->delay_type) {
                                case 1: d = ((const uint8_t *)j->delay)[y]; break;
                                case 2: d = ((const int16_t *)j->delay)[y]; break;
                                default: d = ((const int32_t *)j->delay)[y]; break;
                            }
                            int64_t slot = base + d;
                            if (slot >= c->depth) slot -= c->depth;
                            float w = j->weight_scalar ? j->w : j->weight[y];
                            c->ring[slot * c->n + post[y]] += w;
                        }
                    }
                }
            }
            s = s_end;
        }
        /* 3. channels: decay and add what is due at the end of step k */
        for (int cidx = 0; cidx < n_chan; cidx++) {
            Chan *c = &ch[cidx];
            float *due = c->ring + (int64_t)(k % c->depth) * c->n;
            if (c->type == 2) {
                for (int32_t a = 0; a < c->n; a++) { c->g[a] = due[a]; due[a] = 0.0f; }
            } else {
                for (int32_t a = 0; a < c->n; a++) { c->g[a] = c->g[a] * c->decay + due[a]; due[a] = 0.0f; }
            }
        }
    }
    *events += ev;
done:
    *out_steps = out.steps; *out_ids = out.ids; *out_count = out.count; *out_cap = out.cap;
    free(pops); free(ch); free(pr); free(emlam);
    (void)spiking;
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
