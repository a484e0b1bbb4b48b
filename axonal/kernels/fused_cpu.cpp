// Fused multi-step kernels for the linear LIF families on CPU (axonal.kernels).
//
// Forward: the whole time loop runs here, parallel over neurons (batch x features flattened
// to N), sequential over T. Only the spikes are kept for the backward pass, as uint8.
// Backward: per block of BLK neurons, the membrane (and the other state) is recomputed
// forward from the saved input, initial state and uint8 spikes into a T x BLK scratch
// buffer owned by the thread, then swept in reverse. No T x N float state is stored.
//
// The arithmetic mirrors axonal.functional.neurons (same expression order) so that the
// forward pass is bit-identical to the reference for float parameters.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t BLK = 64;
enum ResetKind : int64_t { SUBTRACT = 0, ZERO = 1, NONE = 2 };
enum SurrogateKind : int64_t {
  FAST_SIGMOID = 0, ATAN = 1, SIGMOID = 2, TRIANGLE = 3, STRAIGHT_THROUGH = 4
};

template <typename T>
inline T surrogate_grad(int64_t kind, T k, T x) {
  switch (kind) {
    case FAST_SIGMOID: {
      T d = T(1) + k * std::abs(x);
      return T(1) / (d * d);
    }
    case ATAN: {
      T y = T(M_PI / 2.0) * k * x;
      return (k / T(2)) / (T(1) + y * y);
    }
    case SIGMOID: {
      T s = T(1) / (T(1) + std::exp(-k * x));
      return k * s * (T(1) - s);
    }
    case TRIANGLE: {
      T y = T(1) - k * std::abs(x);
      return y > T(0) ? k * y : T(0);
    }
    default:
      return k;
  }
}

void check_1d(const torch::Tensor& t, int64_t n, const char* name) {
  TORCH_CHECK(t.dim() == 1 && t.size(0) == n && t.is_contiguous(), name,
              " must be a contiguous [N] tensor");
}

// ---------------------------------------------------------------------------------- LIF
template <typename T>
void lif_fwd_impl(const T* x, const T* v0, const T* al, const T* th, const T* vl, const T* r,
                  const T* vr, int64_t reset, T* out, T* vT, uint8_t* zs, int64_t Tn,
                  int64_t N) {
  at::parallel_for(0, N, BLK, [&](int64_t b, int64_t e) {
    std::vector<T> v(v0 + b, v0 + e);
    for (int64_t t = 0; t < Tn; ++t) {
      const T* xt = x + t * N;
      T* ot = out + t * N;
      uint8_t* zt = zs + t * N;
      for (int64_t i = b; i < e; ++i) {
        T vinf = vl[i] + r[i] * xt[i];
        T vp = vinf + (v[i - b] - vinf) * al[i];
        bool z = (vp - th[i]) > T(0);
        if (reset == SUBTRACT) {
          vp = vp - (z ? T(1) : T(0)) * (th[i] - vr[i]);
        } else if (reset == ZERO) {
          vp = z ? vr[i] : vp;
        }
        v[i - b] = vp;
        ot[i] = z ? T(1) : T(0);
        zt[i] = z ? 1 : 0;
      }
    }
    for (int64_t i = b; i < e; ++i) vT[i] = v[i - b];
  });
}

template <typename T>
void lif_bwd_impl(const T* gout, const T* gvT, const T* x, const T* v0, const uint8_t* zs,
                  const T* al, const T* th, const T* vl, const T* r, const T* vr,
                  int64_t reset, bool detach, int64_t kind, T k, T* gx, T* gv0, T* gal,
                  T* gth, int64_t Tn, int64_t N) {
  at::parallel_for(0, N, BLK, [&](int64_t b, int64_t e) {
    std::vector<T> vpre(Tn * BLK), dv(Tn * BLK);
    T v[BLK], gv[BLK], ga[BLK], gt[BLK];
    for (int64_t b0 = b; b0 < e; b0 += BLK) {
      const int64_t n = std::min(BLK, e - b0);
      for (int64_t j = 0; j < n; ++j) v[j] = v0[b0 + j];
      for (int64_t t = 0; t < Tn; ++t) {  // recompute the membrane from x, v0 and spikes
        const T* xt = x + t * N + b0;
        const uint8_t* zt = zs + t * N + b0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = b0 + j;
          T vinf = vl[i] + r[i] * xt[j];
          T d = v[j] - vinf;
          T vp = vinf + d * al[i];
          dv[t * BLK + j] = d;
          vpre[t * BLK + j] = vp;
          if (reset == SUBTRACT) {
            vp = vp - T(zt[j]) * (th[i] - vr[i]);
          } else if (reset == ZERO) {
            vp = zt[j] ? vr[i] : vp;
          }
          v[j] = vp;
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        gv[j] = gvT ? gvT[b0 + j] : T(0);
        ga[j] = T(0);
        gt[j] = T(0);
      }
      for (int64_t t = Tn - 1; t >= 0; --t) {
        const uint8_t* zt = zs + t * N + b0;
        const T* got = gout + t * N + b0;
        T* gxt = gx + t * N + b0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = b0 + j;
          const T z = T(zt[j]);
          const T vp = vpre[t * BLK + j];
          T gz = got[j];
          T gp = gv[j];
          if (reset == SUBTRACT) {
            if (!detach) gz -= gv[j] * (th[i] - vr[i]);
            gt[j] -= gv[j] * z;
          } else if (reset == ZERO) {
            gp = gv[j] * (T(1) - z);
            if (!detach) gz += gv[j] * (vr[i] - vp);
          }
          const T sg = gz * surrogate_grad<T>(kind, k, vp - th[i]);
          gp += sg;
          gt[j] -= sg;
          gxt[j] = gp * (T(1) - al[i]) * r[i];
          ga[j] += gp * dv[t * BLK + j];
          gv[j] = gp * al[i];
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        gv0[b0 + j] = gv[j];
        gal[b0 + j] = ga[j];
        gth[b0 + j] = gt[j];
      }
    }
  });
}

std::vector<torch::Tensor> lif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor al,
                                       torch::Tensor th, torch::Tensor vl, torch::Tensor r,
                                       torch::Tensor vr, int64_t reset) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  const int64_t Tn = x.size(0), N = x.size(1);
  for (auto* p : {&v0, &al, &th, &vl, &r, &vr}) check_1d(*p, N, "state/parameter");
  auto out = torch::empty_like(x);
  auto vT = torch::empty_like(v0);
  auto zs = torch::empty({Tn, N}, x.options().dtype(torch::kUInt8));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_forward", [&] {
    lif_fwd_impl<scalar_t>(x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(),
                           al.data_ptr<scalar_t>(), th.data_ptr<scalar_t>(),
                           vl.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(),
                           vr.data_ptr<scalar_t>(), reset, out.data_ptr<scalar_t>(),
                           vT.data_ptr<scalar_t>(), zs.data_ptr<uint8_t>(), Tn, N);
  });
  return {out, vT, zs};
}

std::vector<torch::Tensor> lif_backward(torch::Tensor gout, c10::optional<torch::Tensor> gvT,
                                        torch::Tensor x, torch::Tensor v0, torch::Tensor zs,
                                        torch::Tensor al, torch::Tensor th, torch::Tensor vl,
                                        torch::Tensor r, torch::Tensor vr, int64_t reset,
                                        bool detach, int64_t kind, double slope) {
  const int64_t Tn = x.size(0), N = x.size(1);
  gout = gout.contiguous();
  torch::Tensor gvTc = gvT.has_value() ? gvT->contiguous() : torch::Tensor();
  auto gx = torch::empty_like(x);
  auto gv0 = torch::empty_like(v0), gal = torch::empty_like(v0), gth = torch::empty_like(v0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_backward", [&] {
    lif_bwd_impl<scalar_t>(
        gout.data_ptr<scalar_t>(), gvTc.defined() ? gvTc.data_ptr<scalar_t>() : nullptr,
        x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), zs.data_ptr<uint8_t>(),
        al.data_ptr<scalar_t>(), th.data_ptr<scalar_t>(), vl.data_ptr<scalar_t>(),
        r.data_ptr<scalar_t>(), vr.data_ptr<scalar_t>(), reset, detach, kind,
        static_cast<scalar_t>(slope), gx.data_ptr<scalar_t>(), gv0.data_ptr<scalar_t>(),
        gal.data_ptr<scalar_t>(), gth.data_ptr<scalar_t>(), Tn, N);
  });
  return {gx, gv0, gal, gth};
}

// --------------------------------------------------------------------------------- ALIF
template <typename T>
void alif_fwd_impl(const T* x, const T* v0, const T* a0, const T* am, const T* aa, const T* th,
                   const T* vl, const T* r, const T* vr, const T* dl, int64_t reset, T* out,
                   T* vT, T* aT, uint8_t* zs, int64_t Tn, int64_t N) {
  at::parallel_for(0, N, BLK, [&](int64_t b, int64_t e) {
    std::vector<T> v(v0 + b, v0 + e), a(a0 + b, a0 + e);
    for (int64_t t = 0; t < Tn; ++t) {
      const T* xt = x + t * N;
      for (int64_t i = b; i < e; ++i) {
        T vinf = vl[i] + r[i] * xt[i];
        T vp = vinf + (v[i - b] - vinf) * am[i];
        T ad = a[i - b] * aa[i];
        T thr = th[i] + ad;
        bool z = (vp - thr) > T(0);
        T zf = z ? T(1) : T(0);
        if (reset == SUBTRACT) {
          vp = vp - zf * (thr - vr[i]);
        } else if (reset == ZERO) {
          vp = z ? vr[i] : vp;
        }
        v[i - b] = vp;
        a[i - b] = ad + dl[i] * zf;
        out[t * N + i] = zf;
        zs[t * N + i] = z ? 1 : 0;
      }
    }
    for (int64_t i = b; i < e; ++i) {
      vT[i] = v[i - b];
      aT[i] = a[i - b];
    }
  });
}

template <typename T>
void alif_bwd_impl(const T* gout, const T* gvT, const T* gaT, const T* x, const T* v0,
                   const T* a0, const uint8_t* zs, const T* am, const T* aa, const T* th,
                   const T* vl, const T* r, const T* vr, const T* dl, int64_t reset,
                   bool detach, int64_t kind, T k, T* gx, T* gv0, T* ga0, T* gam, T* gaa,
                   T* gth, T* gdl, int64_t Tn, int64_t N) {
  at::parallel_for(0, N, BLK, [&](int64_t b, int64_t e) {
    std::vector<T> vpre(Tn * BLK), dv(Tn * BLK), aprev(Tn * BLK);
    T v[BLK], a[BLK], gv[BLK], gad[BLK], g_am[BLK], g_aa[BLK], g_th[BLK], g_dl[BLK];
    for (int64_t b0 = b; b0 < e; b0 += BLK) {
      const int64_t n = std::min(BLK, e - b0);
      for (int64_t j = 0; j < n; ++j) {
        v[j] = v0[b0 + j];
        a[j] = a0[b0 + j];
      }
      for (int64_t t = 0; t < Tn; ++t) {
        const T* xt = x + t * N + b0;
        const uint8_t* zt = zs + t * N + b0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = b0 + j;
          T vinf = vl[i] + r[i] * xt[j];
          T d = v[j] - vinf;
          T vp = vinf + d * am[i];
          T ad = a[j] * aa[i];
          dv[t * BLK + j] = d;
          vpre[t * BLK + j] = vp;
          aprev[t * BLK + j] = a[j];
          const T zf = T(zt[j]);
          if (reset == SUBTRACT) {
            vp = vp - zf * ((th[i] + ad) - vr[i]);
          } else if (reset == ZERO) {
            vp = zt[j] ? vr[i] : vp;
          }
          v[j] = vp;
          a[j] = ad + dl[i] * zf;
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        gv[j] = gvT ? gvT[b0 + j] : T(0);
        gad[j] = gaT ? gaT[b0 + j] : T(0);
        g_am[j] = g_aa[j] = g_th[j] = g_dl[j] = T(0);
      }
      for (int64_t t = Tn - 1; t >= 0; --t) {
        const uint8_t* zt = zs + t * N + b0;
        const T* got = gout + t * N + b0;
        T* gxt = gx + t * N + b0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = b0 + j;
          const T z = T(zt[j]);
          const T vp = vpre[t * BLK + j];
          const T ap = aprev[t * BLK + j];
          const T ad = ap * aa[i];
          const T thr = th[i] + ad;
          // a_new = ad + delta z
          T gz = got[j] + gad[j] * dl[i];
          g_dl[j] += gad[j] * z;
          T g_ad = gad[j];
          T g_thr = T(0);
          T gp = gv[j];
          if (reset == SUBTRACT) {
            if (!detach) gz -= gv[j] * (thr - vr[i]);
            g_thr -= gv[j] * z;
          } else if (reset == ZERO) {
            gp = gv[j] * (T(1) - z);
            if (!detach) gz += gv[j] * (vr[i] - vp);
          }
          const T sg = gz * surrogate_grad<T>(kind, k, vp - thr);
          gp += sg;
          g_thr -= sg;
          g_th[j] += g_thr;
          g_ad += g_thr;
          gxt[j] = gp * (T(1) - am[i]) * r[i];
          g_am[j] += gp * dv[t * BLK + j];
          gv[j] = gp * am[i];
          g_aa[j] += g_ad * ap;
          gad[j] = g_ad * aa[i];
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
  });
}

std::vector<torch::Tensor> alif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor a0,
                                        torch::Tensor am, torch::Tensor aa, torch::Tensor th,
                                        torch::Tensor vl, torch::Tensor r, torch::Tensor vr,
                                        torch::Tensor dl, int64_t reset) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  const int64_t Tn = x.size(0), N = x.size(1);
  for (auto* p : {&v0, &a0, &am, &aa, &th, &vl, &r, &vr, &dl}) check_1d(*p, N, "state/parameter");
  auto out = torch::empty_like(x);
  auto vT = torch::empty_like(v0), aT = torch::empty_like(v0);
  auto zs = torch::empty({Tn, N}, x.options().dtype(torch::kUInt8));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "alif_forward", [&] {
    alif_fwd_impl<scalar_t>(
        x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), a0.data_ptr<scalar_t>(),
        am.data_ptr<scalar_t>(), aa.data_ptr<scalar_t>(), th.data_ptr<scalar_t>(),
        vl.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), vr.data_ptr<scalar_t>(),
        dl.data_ptr<scalar_t>(), reset, out.data_ptr<scalar_t>(), vT.data_ptr<scalar_t>(),
        aT.data_ptr<scalar_t>(), zs.data_ptr<uint8_t>(), Tn, N);
  });
  return {out, vT, aT, zs};
}

std::vector<torch::Tensor> alif_backward(
    torch::Tensor gout, c10::optional<torch::Tensor> gvT, c10::optional<torch::Tensor> gaT,
    torch::Tensor x, torch::Tensor v0, torch::Tensor a0, torch::Tensor zs, torch::Tensor am,
    torch::Tensor aa, torch::Tensor th, torch::Tensor vl, torch::Tensor r, torch::Tensor vr,
    torch::Tensor dl, int64_t reset, bool detach, int64_t kind, double slope) {
  const int64_t Tn = x.size(0), N = x.size(1);
  gout = gout.contiguous();
  torch::Tensor gvTc = gvT.has_value() ? gvT->contiguous() : torch::Tensor();
  torch::Tensor gaTc = gaT.has_value() ? gaT->contiguous() : torch::Tensor();
  auto gx = torch::empty_like(x);
  auto gv0 = torch::empty_like(v0), ga0 = torch::empty_like(v0), gam = torch::empty_like(v0),
       gaa = torch::empty_like(v0), gth = torch::empty_like(v0), gdl = torch::empty_like(v0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "alif_backward", [&] {
    alif_bwd_impl<scalar_t>(
        gout.data_ptr<scalar_t>(), gvTc.defined() ? gvTc.data_ptr<scalar_t>() : nullptr,
        gaTc.defined() ? gaTc.data_ptr<scalar_t>() : nullptr, x.data_ptr<scalar_t>(),
        v0.data_ptr<scalar_t>(), a0.data_ptr<scalar_t>(), zs.data_ptr<uint8_t>(),
        am.data_ptr<scalar_t>(), aa.data_ptr<scalar_t>(), th.data_ptr<scalar_t>(),
        vl.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), vr.data_ptr<scalar_t>(),
        dl.data_ptr<scalar_t>(), reset, detach, kind, static_cast<scalar_t>(slope),
        gx.data_ptr<scalar_t>(), gv0.data_ptr<scalar_t>(), ga0.data_ptr<scalar_t>(),
        gam.data_ptr<scalar_t>(), gaa.data_ptr<scalar_t>(), gth.data_ptr<scalar_t>(),
        gdl.data_ptr<scalar_t>(), Tn, N);
  });
  return {gx, gv0, ga0, gam, gaa, gth, gdl};
}

// ----------------------------------------------------------------------------- CubaLIF
template <typename T>
void cuba_fwd_impl(const T* x, const T* v0, const T* i0, const T* am, const T* as, const T* K,
                   const T* th, const T* vl, const T* r, const T* vr, int64_t reset, T* out,
                   T* vT, T* iT, uint8_t* zs, int64_t Tn, int64_t N) {
  at::parallel_for(0, N, BLK, [&](int64_t b, int64_t e) {
    std::vector<T> v(v0 + b, v0 + e), c(i0 + b, i0 + e);
    for (int64_t t = 0; t < Tn; ++t) {
      const T* xt = x + t * N;
      for (int64_t i = b; i < e; ++i) {
        const T xi = xt[i];
        T d = c[i - b] - xi;
        T vinf = vl[i] + r[i] * xi;
        T vp = vinf + (v[i - b] - vinf) * am[i] + (r[i] * d) * K[i];
        c[i - b] = xi + d * as[i];
        bool z = (vp - th[i]) > T(0);
        if (reset == SUBTRACT) {
          vp = vp - (z ? T(1) : T(0)) * (th[i] - vr[i]);
        } else if (reset == ZERO) {
          vp = z ? vr[i] : vp;
        }
        v[i - b] = vp;
        out[t * N + i] = z ? T(1) : T(0);
        zs[t * N + i] = z ? 1 : 0;
      }
    }
    for (int64_t i = b; i < e; ++i) {
      vT[i] = v[i - b];
      iT[i] = c[i - b];
    }
  });
}

template <typename T>
void cuba_bwd_impl(const T* gout, const T* gvT, const T* giT, const T* x, const T* v0,
                   const T* i0, const uint8_t* zs, const T* am, const T* as, const T* K,
                   const T* th, const T* vl, const T* r, const T* vr, int64_t reset,
                   bool detach, int64_t kind, T k, T* gx, T* gv0, T* gi0, T* gam, T* gas,
                   T* gK, T* gth, int64_t Tn, int64_t N) {
  at::parallel_for(0, N, BLK, [&](int64_t b, int64_t e) {
    std::vector<T> vpre(Tn * BLK), dv(Tn * BLK), dd(Tn * BLK);
    T v[BLK], c[BLK], gv[BLK], gi[BLK], g_am[BLK], g_as[BLK], g_K[BLK], g_th[BLK];
    for (int64_t b0 = b; b0 < e; b0 += BLK) {
      const int64_t n = std::min(BLK, e - b0);
      for (int64_t j = 0; j < n; ++j) {
        v[j] = v0[b0 + j];
        c[j] = i0[b0 + j];
      }
      for (int64_t t = 0; t < Tn; ++t) {
        const T* xt = x + t * N + b0;
        const uint8_t* zt = zs + t * N + b0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = b0 + j;
          const T xi = xt[j];
          T d = c[j] - xi;
          T vinf = vl[i] + r[i] * xi;
          T dvv = v[j] - vinf;
          T vp = vinf + dvv * am[i] + (r[i] * d) * K[i];
          c[j] = xi + d * as[i];
          dv[t * BLK + j] = dvv;
          dd[t * BLK + j] = d;
          vpre[t * BLK + j] = vp;
          if (reset == SUBTRACT) {
            vp = vp - T(zt[j]) * (th[i] - vr[i]);
          } else if (reset == ZERO) {
            vp = zt[j] ? vr[i] : vp;
          }
          v[j] = vp;
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        gv[j] = gvT ? gvT[b0 + j] : T(0);
        gi[j] = giT ? giT[b0 + j] : T(0);
        g_am[j] = g_as[j] = g_K[j] = g_th[j] = T(0);
      }
      for (int64_t t = Tn - 1; t >= 0; --t) {
        const uint8_t* zt = zs + t * N + b0;
        const T* got = gout + t * N + b0;
        T* gxt = gx + t * N + b0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t i = b0 + j;
          const T z = T(zt[j]);
          const T vp = vpre[t * BLK + j];
          const T d = dd[t * BLK + j];
          T gz = got[j];
          T gp = gv[j];
          if (reset == SUBTRACT) {
            if (!detach) gz -= gv[j] * (th[i] - vr[i]);
            g_th[j] -= gv[j] * z;
          } else if (reset == ZERO) {
            gp = gv[j] * (T(1) - z);
            if (!detach) gz += gv[j] * (vr[i] - vp);
          }
          const T sg = gz * surrogate_grad<T>(kind, k, vp - th[i]);
          gp += sg;
          g_th[j] -= sg;
          // v_pre = vinf + (v - vinf) am + r d K ;  i_new = x + d as ;  d = i - x
          g_am[j] += gp * dv[t * BLK + j];
          g_K[j] += gp * r[i] * d;
          g_as[j] += gi[j] * d;
          const T gd = gp * r[i] * K[i] + gi[j] * as[i];
          gxt[j] = gp * (T(1) - am[i]) * r[i] + gi[j] - gd;
          gv[j] = gp * am[i];
          gi[j] = gd;
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
  });
}

std::vector<torch::Tensor> cuba_lif_forward(torch::Tensor x, torch::Tensor v0, torch::Tensor i0,
                                            torch::Tensor am, torch::Tensor as, torch::Tensor K,
                                            torch::Tensor th, torch::Tensor vl, torch::Tensor r,
                                            torch::Tensor vr, int64_t reset) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [T, N] tensor");
  const int64_t Tn = x.size(0), N = x.size(1);
  for (auto* p : {&v0, &i0, &am, &as, &K, &th, &vl, &r, &vr}) check_1d(*p, N, "state/parameter");
  auto out = torch::empty_like(x);
  auto vT = torch::empty_like(v0), iT = torch::empty_like(v0);
  auto zs = torch::empty({Tn, N}, x.options().dtype(torch::kUInt8));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cuba_lif_forward", [&] {
    cuba_fwd_impl<scalar_t>(
        x.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), i0.data_ptr<scalar_t>(),
        am.data_ptr<scalar_t>(), as.data_ptr<scalar_t>(), K.data_ptr<scalar_t>(),
        th.data_ptr<scalar_t>(), vl.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(),
        vr.data_ptr<scalar_t>(), reset, out.data_ptr<scalar_t>(), vT.data_ptr<scalar_t>(),
        iT.data_ptr<scalar_t>(), zs.data_ptr<uint8_t>(), Tn, N);
  });
  return {out, vT, iT, zs};
}

std::vector<torch::Tensor> cuba_lif_backward(
    torch::Tensor gout, c10::optional<torch::Tensor> gvT, c10::optional<torch::Tensor> giT,
    torch::Tensor x, torch::Tensor v0, torch::Tensor i0, torch::Tensor zs, torch::Tensor am,
    torch::Tensor as, torch::Tensor K, torch::Tensor th, torch::Tensor vl, torch::Tensor r,
    torch::Tensor vr, int64_t reset, bool detach, int64_t kind, double slope) {
  const int64_t Tn = x.size(0), N = x.size(1);
  gout = gout.contiguous();
  torch::Tensor gvTc = gvT.has_value() ? gvT->contiguous() : torch::Tensor();
  torch::Tensor giTc = giT.has_value() ? giT->contiguous() : torch::Tensor();
  auto gx = torch::empty_like(x);
  auto gv0 = torch::empty_like(v0), gi0 = torch::empty_like(v0), gam = torch::empty_like(v0),
       gas = torch::empty_like(v0), gK = torch::empty_like(v0), gth = torch::empty_like(v0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cuba_lif_backward", [&] {
    cuba_bwd_impl<scalar_t>(
        gout.data_ptr<scalar_t>(), gvTc.defined() ? gvTc.data_ptr<scalar_t>() : nullptr,
        giTc.defined() ? giTc.data_ptr<scalar_t>() : nullptr, x.data_ptr<scalar_t>(),
        v0.data_ptr<scalar_t>(), i0.data_ptr<scalar_t>(), zs.data_ptr<uint8_t>(),
        am.data_ptr<scalar_t>(), as.data_ptr<scalar_t>(), K.data_ptr<scalar_t>(),
        th.data_ptr<scalar_t>(), vl.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(),
        vr.data_ptr<scalar_t>(), reset, detach, kind, static_cast<scalar_t>(slope),
        gx.data_ptr<scalar_t>(), gv0.data_ptr<scalar_t>(), gi0.data_ptr<scalar_t>(),
        gam.data_ptr<scalar_t>(), gas.data_ptr<scalar_t>(), gK.data_ptr<scalar_t>(),
        gth.data_ptr<scalar_t>(), Tn, N);
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
}
