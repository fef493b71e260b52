// The GRU recurrence on the CPU, forward and backward through time, for one layer.
//
// nn.GRU on the CPU runs every step as a handful of ATen ops on tiny tensors, each recorded by
// autograd; on two cores that per-op overhead, not arithmetic, is most of a training step. Here
// one step is one matrix product (h @ W_hh^T, or dgh @ W_hh going back) and one fused loop over
// the gates. Everything that does not depend on the previous step is done as large matrix
// products: the input projection gi = x @ W_ih^T + b_ih for all steps at once before the loop,
// and, after the backward loop, the input and weight gradients (one product each over all steps
// and windows).
//
// Same gates and gate order as nn.GRU (r, z, n):
//   r = sigmoid(gi_r + gh_r)   z = sigmoid(gi_z + gh_z)   n = tanh(gi_n + r * gh_n)
//   h' = (1 - z) * n + z * h   where gh = h @ W_hh^T + b_hh
// Layouts are time-major and contiguous: x [T, B, F], gi [T, B, 3H], hs [T, B, H].

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <sys/mman.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace {

// Large buffers (the saved gates, the states, the gradients: tens of MB a layer) come from a
// small pool instead of malloc. glibc maps blocks this size afresh on every call and the kernel
// zeroes each new page on first touch; for a 2-core training step that page faulting cost more
// than the arithmetic. Blocks go back to the pool when their tensor dies and are reused for the
// next request of the same size (training repeats its shapes every step). A request the pool
// cannot meet (new shapes: validation, a shorter last batch, another layer width) first frees
// every idle block, so idle memory never exceeds what the last shapes used and peak memory stays
// what malloc would have had; idle blocks are also capped at kPoolBytes.
constexpr size_t kPoolBytes = size_t(1) << 30;
constexpr size_t kAlign = size_t(1) << 21;  // 2 MiB, so the kernel may back blocks with huge pages
std::mutex pool_mutex;
std::multimap<size_t, void*> pool;
size_t pool_idle = 0;

void give_back(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool_idle + bytes > kPoolBytes) {
    std::free(p);
    return;
  }
  pool.emplace(bytes, p);
  pool_idle += bytes;
}

at::Tensor pooled(std::vector<int64_t> sizes, const at::TensorOptions& options) {
  size_t n = 1;
  for (auto d : sizes) n *= static_cast<size_t>(d);
  const size_t bytes = std::max<size_t>(1, (n * sizeof(float) + kAlign - 1) / kAlign) * kAlign;  // never 0
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    auto it = pool.find(bytes);
    if (it != pool.end()) {
      p = it->second;
      pool.erase(it);
      pool_idle -= bytes;
    } else {
      for (auto& idle : pool) std::free(idle.second);
      pool.clear();
      pool_idle = 0;
    }
  }
  if (p == nullptr) {
    p = std::aligned_alloc(kAlign, bytes);
    TORCH_CHECK(p != nullptr, "out of memory allocating ", bytes, " bytes for the GRU kernel");
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
  }
  return at::from_blob(p, sizes, [bytes](void* q) { give_back(q, bytes); }, options);
}

// exp, sigmoid and tanh written so that the compiler vectorises the gate loops (no calls into
// libm); relative error of exp about 2e-7, as good as float32 rounding of the inputs allows.
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = x * 1.44269504088896341f;  // x / ln 2
  const float k = std::floor(t + 0.5f);  // round to nearest without a libm call
  const float f = x - k * 0.693145751953125f - k * 1.428606765330187045e-06f;  // x - k ln 2, two parts
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &p, 4);
  bits += static_cast<int32_t>(k) << 23;  // times 2^k
  std::memcpy(&p, &bits, 4);
  return p;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

inline float tanh_(float x) {
  // tanh x = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|): no cancellation for large |x|, and
  // for small |x| the odd polynomial, which the quotient would lose to cancellation.
  const float a = std::fabs(x);
  const float e = fast_exp(-2.0f * a);
  const float big = (1.0f - e) / (1.0f + e);
  const float x2 = x * x;
  const float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.053968254f))));
  const float v = a < 0.0625f ? small : big;
  return std::copysign(v, x);
}

// One window's step: gates from gi (gb) and gh (qb), the new state into ob, and with SAVE the
// gates the backward pass needs into sb.
template <bool SAVE>
inline void row(const float* gb, const float* qb, const float* hb, float* ob, float* sb, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float r = sigmoid(gb[j] + qb[j]);
    const float z = sigmoid(gb[H + j] + qb[H + j]);
    const float n = tanh_(gb[2 * H + j] + r * qb[2 * H + j]);
    ob[j] = n + z * (hb[j] - n);
    if (SAVE) {
      sb[j] = r;
      sb[H + j] = z;
      sb[2 * H + j] = n;
      sb[3 * H + j] = qb[2 * H + j];
    }
  }
}

void check(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == at::kFloat, name, " must be float32");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace

// Windows are independent through the whole recurrence, so the batch is split once into one
// slice per thread and each thread runs its slice through every step with its own (single
// threaded) matrix products: no synchronisation per step, and the gate loops run on every core.
// Slices are at least kGrain windows; a small batch runs on one thread.
constexpr int64_t kGrain = 32;

// What every slice's thread holds while it runs: no autograd (the worker threads do not share
// the caller's grad mode, and the weights may require grad), and matrix products on this thread
// alone (MKL would otherwise start a nested team per thread and oversubscribe the cores). The
// thread count is restored on exit: a batch too small to split runs on the calling thread
// itself, outside any parallel region, where a changed count would stay for every later op.
struct SliceGuard {
  at::NoGradGuard no_grad;
#ifdef _OPENMP
  int threads = omp_get_max_threads();
  SliceGuard() { omp_set_num_threads(1); }
  ~SliceGuard() { omp_set_num_threads(threads); }
#endif
};

// x [T, B, F] (time-major input), w_ih [3H, F], b_ih [3H], w_hh [3H, H], b_hh [3H], h0 [B, H].
// The input projection gi = x @ W_ih^T + b_ih of every step is one matrix product into a pooled
// buffer (allocated fresh it page-faulted as much as the recurrence cost). Returns hs [T, B, H]
// and, when save is true, the gates for the backward pass [T, B, 4H] = (r, z, n, gh_n) per
// step; an empty tensor otherwise.
std::vector<at::Tensor> gru_forward(at::Tensor x, at::Tensor w_ih, at::Tensor b_ih, at::Tensor w_hh, at::Tensor b_hh,
                                    at::Tensor h0, bool save) {
  check(x, "x");
  check(w_ih, "w_ih");
  check(b_ih, "b_ih");
  check(w_hh, "w_hh");
  check(b_hh, "b_hh");
  check(h0, "h0");
  const int64_t T = x.size(0), B = x.size(1), F = x.size(2), H = w_hh.size(1);
  TORCH_CHECK(w_ih.size(0) == 3 * H && w_ih.size(1) == F && b_ih.numel() == 3 * H && w_hh.size(0) == 3 * H &&
                  b_hh.numel() == 3 * H,
              "GRU shapes disagree");
  TORCH_CHECK(h0.size(0) == B && h0.size(1) == H, "h0 must be [B, H]");
  auto gi = pooled({T, B, 3 * H}, x.options());
  auto gi_flat = gi.view({T * B, 3 * H});
  at::addmm_out(gi_flat, b_ih.detach(), x.view({T * B, F}), w_ih.detach().t());
  auto hs = pooled({T, B, H}, gi.options());
  auto saved = save ? pooled({T, B, 4 * H}, gi.options()) : at::empty({0}, gi.options());
  const auto w_t = w_hh.detach().t();
  const auto bias = b_hh.detach();
  at::parallel_for(0, B, kGrain, [&](int64_t b0, int64_t b1) {
    SliceGuard guard;
    const int64_t n = b1 - b0;
    auto gh = at::empty({n, 3 * H}, gi.options());
    at::Tensor h = h0.narrow(0, b0, n);
    for (int64_t t = 0; t < T; ++t) {
      at::addmm_out(gh, bias, h, w_t);
      const float* g = gi.data_ptr<float>() + (t * B + b0) * 3 * H;
      const float* q = gh.data_ptr<float>();
      const float* hp = h.data_ptr<float>();
      float* ho = hs.data_ptr<float>() + (t * B + b0) * H;
      for (int64_t b = 0; b < n; ++b) {
        if (save) {
          float* s = saved.data_ptr<float>() + (t * B + b0 + b) * 4 * H;
          row<true>(g + b * 3 * H, q + b * 3 * H, hp + b * H, ho + b * H, s, H);
        } else {
          row<false>(g + b * 3 * H, q + b * 3 * H, hp + b * H, ho + b * H, nullptr, H);
        }
      }
      h = hs[t].narrow(0, b0, n);
    }
  });
  return {hs, saved};
}

// Backward through time. dhs [T, B, H]: the gradient reaching each step's output from above.
// Returns dx [T, B, F] (empty unless need_dx), dw_ih [3H, F], db_ih [3H], dw_hh [3H, H],
// db_hh [3H] and dh0 [B, H]; everything but the recurrence itself is a few large products.
std::vector<at::Tensor> gru_backward(at::Tensor dhs, at::Tensor x, at::Tensor hs, at::Tensor h0, at::Tensor w_ih,
                                     at::Tensor w_hh, at::Tensor saved, bool need_dx) {
  check(dhs, "dhs");
  check(x, "x");
  check(w_ih, "w_ih");
  check(hs, "hs");
  check(h0, "h0");
  check(w_hh, "w_hh");
  check(saved, "saved");
  const int64_t T = hs.size(0), B = hs.size(1), H = hs.size(2);
  auto dgi = pooled({T, B, 3 * H}, hs.options());
  auto dgh = pooled({T, B, 3 * H}, hs.options());
  auto dh = at::zeros({B, H}, hs.options());
  at::parallel_for(0, B, kGrain, [&](int64_t b0, int64_t b1) {
    SliceGuard guard;
    const int64_t n = b1 - b0;
    auto direct = at::empty({n, H}, hs.options());
    auto dh_slice = dh.narrow(0, b0, n);
    for (int64_t t = T - 1; t >= 0; --t) {
      const float* up = dhs.data_ptr<float>() + (t * B + b0) * H;
      const float* s = saved.data_ptr<float>() + (t * B + b0) * 4 * H;
      const float* hp = (t > 0 ? hs.data_ptr<float>() + ((t - 1) * B + b0) * H : h0.data_ptr<float>() + b0 * H);
      const float* dc = dh_slice.data_ptr<float>();
      float* di = dgi.data_ptr<float>() + (t * B + b0) * 3 * H;
      float* dq = dgh.data_ptr<float>() + (t * B + b0) * 3 * H;
      float* dd = direct.data_ptr<float>();
      for (int64_t b = 0; b < n; ++b) {
        const float* sb = s + b * 4 * H;
        const float* hb = hp + b * H;
        const float* ub = up + b * H;
        const float* cb = dc + b * H;
        float* ib = di + b * 3 * H;
        float* qb = dq + b * 3 * H;
        float* db = dd + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const float r = sb[j], z = sb[H + j], nn = sb[2 * H + j], ghn = sb[3 * H + j];
          const float d = ub[j] + cb[j];
          const float dn = d * (1.0f - z) * (1.0f - nn * nn);
          const float dz = d * (hb[j] - nn) * z * (1.0f - z);
          const float dr = dn * ghn * r * (1.0f - r);
          ib[j] = dr;
          ib[H + j] = dz;
          ib[2 * H + j] = dn;
          qb[j] = dr;
          qb[H + j] = dz;
          qb[2 * H + j] = dn * r;
          db[j] = d * z;
        }
      }
      at::addmm_out(dh_slice, direct, dgh[t].narrow(0, b0, n), w_hh);
    }
  });
  // Weight gradients over all steps at once: dW_hh = sum_t dgh_t^T h_{t-1}, dW_ih = sum_t dgi_t^T x_t.
  const int64_t F = x.size(2);
  auto prev = at::cat({h0.unsqueeze(0), hs.narrow(0, 0, T - 1)}, 0).view({T * B, H});
  auto flat = dgh.view({T * B, 3 * H});
  auto dw_hh = at::mm(flat.t(), prev);
  auto db_hh = flat.sum(0);
  auto dgi_flat = dgi.view({T * B, 3 * H});
  auto dw_ih = at::mm(dgi_flat.t(), x.view({T * B, F}));
  auto db_ih = dgi_flat.sum(0);
  at::Tensor dx = at::empty({0}, x.options());
  if (need_dx) {
    dx = pooled({T, B, F}, x.options());
    auto dx_flat = dx.view({T * B, F});
    at::mm_out(dx_flat, dgi_flat, w_ih.detach());
  }
  return {dx, dw_ih, db_ih, dw_hh, db_hh, dh};
}

// Registered as torch.ops.grucast_gru.forward / backward (no pybind11: the extension then needs
// only ATen's headers, which halves its build time).
TORCH_LIBRARY(grucast_gru, m) {
  m.def("forward(Tensor x, Tensor w_ih, Tensor b_ih, Tensor w_hh, Tensor b_hh, Tensor h0, bool save) -> Tensor[]",
        &gru_forward);
  m.def("backward(Tensor dhs, Tensor x, Tensor hs, Tensor h0, Tensor w_ih, Tensor w_hh, Tensor saved, bool need_dx) "
        "-> Tensor[]",
        &gru_backward);
}
