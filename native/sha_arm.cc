// HMAC-SHA-1 and HMAC-SHA-256 of 8-byte counters with the ARMv8 cryptographic extensions, used
// only after cpu_has_arm_sha() said the CPU has them. Same shape as the x86 cores: both message
// blocks are built in registers, and N independent HMACs are interleaved.
#include "sha_cores.h"

#if defined(TOTP_HAVE_ARM_SHA)

#include <arm_neon.h>

#include "sha_constants.h"

#if defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#if defined(__clang__)
#define TOTP_ARM_SHA_TARGET __attribute__((target("sha2")))
#elif defined(__GNUC__)
#define TOTP_ARM_SHA_TARGET __attribute__((target("+crypto")))
#else
#define TOTP_ARM_SHA_TARGET
#endif

namespace totp {
namespace {

inline uint32x4_t words4(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3) {
  const uint32_t w[4] = {w0, w1, w2, w3};
  return vld1q_u32(w);
}

// ---- SHA-1 ------------------------------------------------------------------------------------
// Message group i (rounds 4i..4i+3): M[i] = su1(su0(M[i-4], M[i-3], M[i-2]), M[i-1]).
// The round instruction changes every 20 rounds: choose, parity, majority, parity.
template <int N>
TOTP_ARM_SHA_TARGET inline void sha1_block(uint32x4_t* abcd, uint32_t* e, uint32x4_t (*msg)[4]) {
  uint32x4_t abcd_start[N];
  uint32_t e_start[N];
  for (int n = 0; n < N; ++n) {
    abcd_start[n] = abcd[n];
    e_start[n] = e[n];
  }
  for (int g = 0; g < 20; ++g) {
    const uint32x4_t k = vdupq_n_u32(kSha1RoundConstants[g / 5]);
    for (int n = 0; n < N; ++n) {
      uint32x4_t* m = msg[n];
      if (g >= 4) m[g & 3] = vsha1su1q_u32(vsha1su0q_u32(m[g & 3], m[(g + 1) & 3], m[(g + 2) & 3]), m[(g + 3) & 3]);
      const uint32x4_t wk = vaddq_u32(m[g & 3], k);
      const uint32_t e_next = vsha1h_u32(vgetq_lane_u32(abcd[n], 0));
      if (g < 5) {
        abcd[n] = vsha1cq_u32(abcd[n], e[n], wk);
      } else if (g < 10 || g >= 15) {
        abcd[n] = vsha1pq_u32(abcd[n], e[n], wk);
      } else {
        abcd[n] = vsha1mq_u32(abcd[n], e[n], wk);
      }
      e[n] = e_next;
    }
  }
  for (int n = 0; n < N; ++n) {
    abcd[n] = vaddq_u32(abcd[n], abcd_start[n]);
    e[n] += e_start[n];
  }
}

template <int N>
TOTP_ARM_SHA_TARGET inline void hmac_sha1(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
                                          uint32_t (*digests)[8]) {
  uint32x4_t abcd[N], msg[N][4];
  uint32_t e[N];
  const uint32x4_t zero = vdupq_n_u32(0);
  for (int n = 0; n < N; ++n) {
    abcd[n] = vld1q_u32(inner);
    e[n] = inner[4];
    msg[n][0] = words4(static_cast<uint32_t>(counters[n] >> 32), static_cast<uint32_t>(counters[n]), 0x80000000u, 0);
    msg[n][1] = msg[n][2] = zero;
    msg[n][3] = words4(0, 0, 0, (64 + 8) * 8);
  }
  sha1_block<N>(abcd, e, msg);
  for (int n = 0; n < N; ++n) {
    msg[n][0] = abcd[n];
    msg[n][1] = words4(e[n], 0x80000000u, 0, 0);
    msg[n][2] = zero;
    msg[n][3] = words4(0, 0, 0, (64 + 20) * 8);
    abcd[n] = vld1q_u32(outer);
    e[n] = outer[4];
  }
  sha1_block<N>(abcd, e, msg);
  for (int n = 0; n < N; ++n) {
    vst1q_u32(digests[n], abcd[n]);
    digests[n][4] = e[n];
  }
}

// ---- SHA-256 ----------------------------------------------------------------------------------
// Message group i: M[i] = su1(su0(M[i-4], M[i-3]), M[i-2], M[i-1]).
template <int N>
TOTP_ARM_SHA_TARGET inline void sha256_block(uint32x4_t* abcd, uint32x4_t* efgh, uint32x4_t (*msg)[4]) {
  uint32x4_t abcd_start[N], efgh_start[N];
  for (int n = 0; n < N; ++n) {
    abcd_start[n] = abcd[n];
    efgh_start[n] = efgh[n];
  }
  for (int g = 0; g < 16; ++g) {
    const uint32x4_t k = vld1q_u32(kSha256RoundConstants + 4 * g);
    for (int n = 0; n < N; ++n) {
      uint32x4_t* m = msg[n];
      if (g >= 4) m[g & 3] = vsha256su1q_u32(vsha256su0q_u32(m[g & 3], m[(g + 1) & 3]), m[(g + 2) & 3], m[(g + 3) & 3]);
      const uint32x4_t wk = vaddq_u32(m[g & 3], k);
      const uint32x4_t abcd_before = abcd[n];
      abcd[n] = vsha256hq_u32(abcd[n], efgh[n], wk);
      efgh[n] = vsha256h2q_u32(efgh[n], abcd_before, wk);
    }
  }
  for (int n = 0; n < N; ++n) {
    abcd[n] = vaddq_u32(abcd[n], abcd_start[n]);
    efgh[n] = vaddq_u32(efgh[n], efgh_start[n]);
  }
}

template <int N>
TOTP_ARM_SHA_TARGET inline void hmac_sha256(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
                                            uint32_t (*digests)[8]) {
  uint32x4_t abcd[N], efgh[N], msg[N][4];
  const uint32x4_t zero = vdupq_n_u32(0);
  for (int n = 0; n < N; ++n) {
    abcd[n] = vld1q_u32(inner);
    efgh[n] = vld1q_u32(inner + 4);
    msg[n][0] = words4(static_cast<uint32_t>(counters[n] >> 32), static_cast<uint32_t>(counters[n]), 0x80000000u, 0);
    msg[n][1] = msg[n][2] = zero;
    msg[n][3] = words4(0, 0, 0, (64 + 8) * 8);
  }
  sha256_block<N>(abcd, efgh, msg);
  for (int n = 0; n < N; ++n) {
    msg[n][0] = abcd[n];
    msg[n][1] = efgh[n];
    msg[n][2] = words4(0x80000000u, 0, 0, 0);
    msg[n][3] = words4(0, 0, 0, (64 + 32) * 8);
    abcd[n] = vld1q_u32(outer);
    efgh[n] = vld1q_u32(outer + 4);
  }
  sha256_block<N>(abcd, efgh, msg);
  for (int n = 0; n < N; ++n) {
    vst1q_u32(digests[n], abcd[n]);
    vst1q_u32(digests[n] + 4, efgh[n]);
  }
}

// One block per stream, for the midstates and fingerprints computed once per key.
template <int N>
TOTP_ARM_SHA_TARGET inline void sha1_compress_n(uint32_t* const* states, const uint32_t* const* words) {
  uint32x4_t abcd[N], msg[N][4];
  uint32_t e[N];
  for (int n = 0; n < N; ++n) {
    abcd[n] = vld1q_u32(states[n]);
    e[n] = states[n][4];
    for (int i = 0; i < 4; ++i) msg[n][i] = vld1q_u32(words[n] + 4 * i);
  }
  sha1_block<N>(abcd, e, msg);
  for (int n = 0; n < N; ++n) {
    vst1q_u32(states[n], abcd[n]);
    states[n][4] = e[n];
  }
}

template <int N>
TOTP_ARM_SHA_TARGET inline void sha256_compress_n(uint32_t* const* states, const uint32_t* const* words) {
  uint32x4_t abcd[N], efgh[N], msg[N][4];
  for (int n = 0; n < N; ++n) {
    abcd[n] = vld1q_u32(states[n]);
    efgh[n] = vld1q_u32(states[n] + 4);
    for (int i = 0; i < 4; ++i) msg[n][i] = vld1q_u32(words[n] + 4 * i);
  }
  sha256_block<N>(abcd, efgh, msg);
  for (int n = 0; n < N; ++n) {
    vst1q_u32(states[n], abcd[n]);
    vst1q_u32(states[n] + 4, efgh[n]);
  }
}

}  // namespace

TOTP_ARM_SHA_TARGET void sha1_compress_arm(uint32_t* state, const uint32_t* words) { sha1_compress_n<1>(&state, &words); }

TOTP_ARM_SHA_TARGET void sha256_compress_arm(uint32_t* state, const uint32_t* words) {
  sha256_compress_n<1>(&state, &words);
}

TOTP_ARM_SHA_TARGET void sha1_compress_pair_arm(uint32_t* a, const uint32_t* words_a, uint32_t* b,
                                                const uint32_t* words_b) {
  uint32_t* states[2] = {a, b};
  const uint32_t* words[2] = {words_a, words_b};
  sha1_compress_n<2>(states, words);
}

TOTP_ARM_SHA_TARGET void sha256_compress_pair_arm(uint32_t* a, const uint32_t* words_a, uint32_t* b,
                                                  const uint32_t* words_b) {
  uint32_t* states[2] = {a, b};
  const uint32_t* words[2] = {words_a, words_b};
  sha256_compress_n<2>(states, words);
}

bool cpu_has_arm_sha() {
#if defined(__APPLE__)
  return true;  // every Apple arm64 CPU has the SHA1 and SHA2 instructions
#elif defined(__linux__)
  const unsigned long caps = getauxval(AT_HWCAP);
  return (caps & HWCAP_SHA1) && (caps & HWCAP_SHA2);
#else
  return false;
#endif
}

// The batch dispatchers below have the same shape in sha_x86.cc and sha_arm.cc on purpose: each
// turns a run-time count into a compile-time batch size of this file's own kernels, and must
// itself carry this file's target attribute so that the kernels inline into it. A shared
// template would be a call across target attributes on the hot path (the cold verify is two
// compressions: a call there is measurable), or a macro; neither reads better than six lines.
TOTP_ARM_SHA_TARGET void hmac_sha1_arm(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
                                       int count, uint32_t (*digests)[8]) {
  switch (count) {
    case 1:
      return hmac_sha1<1>(inner, outer, counters, digests);
    case 2:
      return hmac_sha1<2>(inner, outer, counters, digests);
    default:
      return hmac_sha1<3>(inner, outer, counters, digests);
  }
}

TOTP_ARM_SHA_TARGET void hmac_sha256_arm(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
                                         int count, uint32_t (*digests)[8]) {
  switch (count) {
    case 1:
      return hmac_sha256<1>(inner, outer, counters, digests);
    case 2:
      return hmac_sha256<2>(inner, outer, counters, digests);
    default:
      return hmac_sha256<3>(inner, outer, counters, digests);
  }
}

}  // namespace totp

#endif  // TOTP_HAVE_ARM_SHA
