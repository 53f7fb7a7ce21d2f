// HMAC-SHA-1 and HMAC-SHA-256 of 8-byte counters with the x86 SHA extensions (SHA-NI).
//
// Each function is compiled for the SHA/SSE4.1 target only (a function attribute, not a global
// flag) and used only after cpu_has_x86_sha() said the CPU has those instructions, so the addon
// still loads on x86 CPUs without them.
//
// Two choices make this fast:
// - Fused HMAC. Both message blocks are built in registers: the inner block is the counter,
//   the 0x80 pad and a length; the outer block is the inner digest, which the SHA instructions
//   leave in the very lane order the next block wants. Nothing goes through memory between the
//   two compressions.
// - N streams. The SHA round instructions have a latency of several cycles but can issue every
//   cycle or two, so the HMACs of several steps of a verification window are interleaved and a
//   batch of three costs little more than one.
#include "sha_cores.h"

#if defined(TOTP_HAVE_X86_SHA)

#include <immintrin.h>

#include "sha_constants.h"

#if defined(_MSC_VER)
#include <intrin.h>
#define TOTP_SHA_TARGET
#else
#include <cpuid.h>
#define TOTP_SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))
#endif

namespace totp {
namespace {

inline __m128i load(const uint32_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline void store(uint32_t* p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }

// ---- SHA-1 ------------------------------------------------------------------------------------
// The SHA-1 instructions keep A in the highest lane and consume W[t] from the highest lane first,
// so state and message words live lane-reversed. Message group i (rounds 4i..4i+3) is derived
// from the four before it:
//   M[i] = msg2(msg1(M[i-4], M[i-3]) ^ M[i-2], M[i-1])
// which is W[t] = rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]) four lanes at a time. A ring of four
// registers holds M[i-4..i-1], and M[i] replaces M[i-4].

template <int N>
struct Sha1Lanes {
  __m128i abcd[N];
  __m128i e[N];       // E plus the next group's message words, as sha1rnds4 wants them
  __m128i before[N];  // abcd before the latest group: its A feeds sha1nexte
  __m128i msg[N][4];
};

// Five groups of four rounds share one round function F (0..3); the instruction takes F as an
// immediate, hence the template parameter.
template <int F, int N>
TOTP_SHA_TARGET inline void sha1_five_groups(Sha1Lanes<N>& s) {
  for (int j = 0; j < 5; ++j) {
    const int g = F * 5 + j;
    for (int n = 0; n < N; ++n) {
      s.before[n] = s.abcd[n];
      s.abcd[n] = _mm_sha1rnds4_epu32(s.abcd[n], s.e[n], F);
    }
    if (g == 19) break;
    const int next = g + 1;
    for (int n = 0; n < N; ++n) {
      __m128i* m = s.msg[n];
      if (next >= 4) {
        m[next & 3] = _mm_sha1msg2_epu32(
            _mm_xor_si128(_mm_sha1msg1_epu32(m[next & 3], m[(next + 1) & 3]), m[(next + 2) & 3]),
            m[(next + 3) & 3]);
      }
      s.e[n] = _mm_sha1nexte_epu32(s.before[n], m[next & 3]);
    }
  }
}

// One block for each stream: abcd/e in, abcd/e out (E in the top lane of e), lane-reversed.
template <int N>
TOTP_SHA_TARGET inline void sha1_block(__m128i* abcd, __m128i* e, const __m128i (*msg)[4]) {
  Sha1Lanes<N> s;
  for (int n = 0; n < N; ++n) {
    s.abcd[n] = abcd[n];
    for (int i = 0; i < 4; ++i) s.msg[n][i] = msg[n][i];
    s.e[n] = _mm_add_epi32(e[n], s.msg[n][0]);
  }
  sha1_five_groups<0>(s);
  sha1_five_groups<1>(s);
  sha1_five_groups<2>(s);
  sha1_five_groups<3>(s);
  for (int n = 0; n < N; ++n) {
    e[n] = _mm_sha1nexte_epu32(s.before[n], e[n]);
    abcd[n] = _mm_add_epi32(s.abcd[n], abcd[n]);
  }
}

template <int N>
TOTP_SHA_TARGET inline void hmac_sha1(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
                                      uint32_t (*digests)[8]) {
  __m128i abcd[N], e[N], msg[N][4];
  const __m128i zero = _mm_setzero_si128();
  const __m128i pad_mask = _mm_set_epi32(-1, 0, 0, 0);
  for (int n = 0; n < N; ++n) {
    abcd[n] = _mm_shuffle_epi32(load(inner), 0x1B);
    e[n] = _mm_set_epi32(static_cast<int>(inner[4]), 0, 0, 0);
    // Inner block: counter (2 words), 0x80 pad, zeros, bit length of ipad block + counter.
    msg[n][0] = _mm_set_epi32(static_cast<int>(counters[n] >> 32), static_cast<int>(counters[n]),
                              static_cast<int>(0x80000000u), 0);
    msg[n][1] = msg[n][2] = zero;
    msg[n][3] = _mm_set_epi32(0, 0, 0, (64 + 8) * 8);
  }
  sha1_block<N>(abcd, e, msg);
  for (int n = 0; n < N; ++n) {
    // Outer block: the 5-word inner digest, 0x80 pad, zeros, bit length of opad block + digest.
    // abcd is already W0..W3 in lane-reversed order; E sits in the top lane of e.
    msg[n][0] = abcd[n];
    msg[n][1] = _mm_or_si128(_mm_and_si128(e[n], pad_mask), _mm_set_epi32(0, static_cast<int>(0x80000000u), 0, 0));
    msg[n][2] = zero;
    msg[n][3] = _mm_set_epi32(0, 0, 0, (64 + 20) * 8);
    abcd[n] = _mm_shuffle_epi32(load(outer), 0x1B);
    e[n] = _mm_set_epi32(static_cast<int>(outer[4]), 0, 0, 0);
  }
  sha1_block<N>(abcd, e, msg);
  for (int n = 0; n < N; ++n) {
    store(digests[n], _mm_shuffle_epi32(abcd[n], 0x1B));
    digests[n][4] = static_cast<uint32_t>(_mm_extract_epi32(e[n], 3));
  }
}

// ---- SHA-256 ----------------------------------------------------------------------------------
// sha256rnds2 works on the state split as (A,B,E,F) and (C,D,G,H), two rounds per instruction,
// taking W[t]+K[t] for those rounds from the two low lanes. Message group i is
//   M[i] = msg2(msg1(M[i-4], M[i-3]) + (W[4i-7..4i-4] from M[i-2]:M[i-1]), M[i-1])
// which is W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16] four lanes at a time.

// (A,B,C,D), (E,F,G,H) in natural lane order <-> the (A,B,E,F), (C,D,G,H) split.
TOTP_SHA_TARGET inline void sha256_split(__m128i abcd, __m128i efgh, __m128i& abef, __m128i& cdgh) {
  const __m128i badc = _mm_shuffle_epi32(abcd, 0xB1);
  const __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);
  abef = _mm_alignr_epi8(badc, hgfe, 8);
  cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);
}

TOTP_SHA_TARGET inline void sha256_join(__m128i abef, __m128i cdgh, __m128i& abcd, __m128i& efgh) {
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  abcd = _mm_blend_epi16(feba, dchg, 0xF0);
  efgh = _mm_alignr_epi8(dchg, feba, 8);
}

// The split state, written out as the eight state words A..H.
TOTP_SHA_TARGET inline void sha256_store(uint32_t* out, __m128i abef, __m128i cdgh) {
  __m128i abcd, efgh;
  sha256_join(abef, cdgh, abcd, efgh);
  store(out, abcd);
  store(out + 4, efgh);
}

// One block for each stream, on the split state.
template <int N>
TOTP_SHA_TARGET inline void sha256_block(__m128i* abef, __m128i* cdgh, const __m128i (*words)[4]) {
  __m128i msg[N][4], abef_start[N], cdgh_start[N];
  for (int n = 0; n < N; ++n) {
    abef_start[n] = abef[n];
    cdgh_start[n] = cdgh[n];
    for (int i = 0; i < 4; ++i) msg[n][i] = words[n][i];
  }
  for (int g = 0; g < 16; ++g) {
    const __m128i k = load(kSha256RoundConstants + 4 * g);
    for (int n = 0; n < N; ++n) {
      __m128i* m = msg[n];
      if (g >= 4) {
        const __m128i w7 = _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4);
        m[g & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]), w7),
                                        m[(g + 3) & 3]);
      }
      const __m128i wk = _mm_add_epi32(m[g & 3], k);
      cdgh[n] = _mm_sha256rnds2_epu32(cdgh[n], abef[n], wk);
      abef[n] = _mm_sha256rnds2_epu32(abef[n], cdgh[n], _mm_shuffle_epi32(wk, 0x0E));
    }
  }
  for (int n = 0; n < N; ++n) {
    abef[n] = _mm_add_epi32(abef[n], abef_start[n]);
    cdgh[n] = _mm_add_epi32(cdgh[n], cdgh_start[n]);
  }
}

template <int N>
TOTP_SHA_TARGET inline void hmac_sha256(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
                                        uint32_t (*digests)[8]) {
  __m128i abef[N], cdgh[N], msg[N][4];
  const __m128i zero = _mm_setzero_si128();
  for (int n = 0; n < N; ++n) {
    sha256_split(load(inner), load(inner + 4), abef[n], cdgh[n]);
    msg[n][0] = _mm_set_epi32(0, static_cast<int>(0x80000000u), static_cast<int>(counters[n]),
                              static_cast<int>(counters[n] >> 32));
    msg[n][1] = msg[n][2] = zero;
    msg[n][3] = _mm_set_epi32((64 + 8) * 8, 0, 0, 0);
  }
  sha256_block<N>(abef, cdgh, msg);
  for (int n = 0; n < N; ++n) {
    sha256_join(abef[n], cdgh[n], msg[n][0], msg[n][1]);  // the inner digest is W0..W7
    msg[n][2] = _mm_set_epi32(0, 0, 0, static_cast<int>(0x80000000u));
    msg[n][3] = _mm_set_epi32((64 + 32) * 8, 0, 0, 0);
    sha256_split(load(outer), load(outer + 4), abef[n], cdgh[n]);
  }
  sha256_block<N>(abef, cdgh, msg);
  for (int n = 0; n < N; ++n) sha256_store(digests[n], abef[n], cdgh[n]);
}

// One block per stream, for the midstates and fingerprints computed once per key. SHA-1 keeps
// its state and message words lane-reversed (see above); SHA-256 takes the words in natural lane
// order.
template <int N>
TOTP_SHA_TARGET inline void sha1_compress_n(uint32_t* const* states, const uint32_t* const* words) {
  __m128i abcd[N], e[N], msg[N][4];
  for (int n = 0; n < N; ++n) {
    abcd[n] = _mm_shuffle_epi32(load(states[n]), 0x1B);
    e[n] = _mm_set_epi32(static_cast<int>(states[n][4]), 0, 0, 0);
    for (int i = 0; i < 4; ++i) msg[n][i] = _mm_shuffle_epi32(load(words[n] + 4 * i), 0x1B);
  }
  sha1_block<N>(abcd, e, msg);
  for (int n = 0; n < N; ++n) {
    store(states[n], _mm_shuffle_epi32(abcd[n], 0x1B));
    states[n][4] = static_cast<uint32_t>(_mm_extract_epi32(e[n], 3));
  }
}

template <int N>
TOTP_SHA_TARGET inline void sha256_compress_n(uint32_t* const* states, const uint32_t* const* words) {
  __m128i abef[N], cdgh[N], msg[N][4];
  for (int n = 0; n < N; ++n) {
    for (int i = 0; i < 4; ++i) msg[n][i] = load(words[n] + 4 * i);
    sha256_split(load(states[n]), load(states[n] + 4), abef[n], cdgh[n]);
  }
  sha256_block<N>(abef, cdgh, msg);
  for (int n = 0; n < N; ++n) sha256_store(states[n], abef[n], cdgh[n]);
}

}  // namespace

TOTP_SHA_TARGET void sha1_compress_x86(uint32_t* state, const uint32_t* words) {
  sha1_compress_n<1>(&state, &words);
}

TOTP_SHA_TARGET void sha256_compress_x86(uint32_t* state, const uint32_t* words) {
  sha256_compress_n<1>(&state, &words);
}

TOTP_SHA_TARGET void sha1_compress_pair_x86(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b) {
  uint32_t* states[2] = {a, b};
  const uint32_t* words[2] = {words_a, words_b};
  sha1_compress_n<2>(states, words);
}

TOTP_SHA_TARGET void sha256_compress_pair_x86(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b) {
  uint32_t* states[2] = {a, b};
  const uint32_t* words[2] = {words_a, words_b};
  sha256_compress_n<2>(states, words);
}

bool cpu_has_x86_sha() {
  unsigned ebx = 0, ecx = 0;
#if defined(_MSC_VER)
  int r[4];
  __cpuid(r, 0);
  if (r[0] < 7) return false;
  __cpuid(r, 1);
  ecx = static_cast<unsigned>(r[2]);
  __cpuidex(r, 7, 0);
  ebx = static_cast<unsigned>(r[1]);
#else
  unsigned eax = 0, edx = 0, unused = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid(1, eax, unused, ecx, edx);
  __cpuid_count(7, 0, eax, ebx, unused, edx);
#endif
  const bool ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1, sha = (ebx >> 29) & 1;
  return ssse3 && sse41 && sha;
}

// The batch dispatchers below have the same shape in sha_x86.cc and sha_arm.cc on purpose: each
// turns a run-time count into a compile-time batch size of this file's own kernels, and must
// itself carry this file's target attribute so that the kernels inline into it. A shared
// template would be a call across target attributes on the hot path (the cold verify is two
// compressions: a call there is measurable), or a macro; neither reads better than six lines.
TOTP_SHA_TARGET void hmac_sha1_x86(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
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

TOTP_SHA_TARGET void hmac_sha256_x86(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters,
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

#endif  // TOTP_HAVE_X86_SHA
