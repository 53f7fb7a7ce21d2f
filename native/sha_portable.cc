// Portable SHA-1, SHA-256 and SHA-512 compression (FIPS 180-4): the reference the accelerated
// cores are tested against, and the path on CPUs without SHA instructions (many server CPUs
// still lack SHA-NI), so it is written to be fast too. The message schedule is a 16-word ring,
// wiped before returning because it holds key-derived data.
#include <cstring>

#include "secure_wipe.h"
#include "sha_constants.h"
#include "sha_cores.h"

namespace totp {
namespace {

inline uint32_t rotl32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }
inline uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
inline uint64_t rotr64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

template <typename Word>
inline Word choose(Word x, Word y, Word z) { return z ^ (x & (y ^ z)); }
template <typename Word>
inline Word majority(Word x, Word y, Word z) { return (x & y) | (z & (x | y)); }

// The SHA-2 functions of FIPS 180-4 §4.1.2 (SHA-256) and §4.1.3 (SHA-512).
struct Sha256Functions {
  using Word = uint32_t;
  static constexpr int kRounds = 64;
  static Word big_sigma0(Word x) { return rotr32(x, 2) ^ rotr32(x, 13) ^ rotr32(x, 22); }
  static Word big_sigma1(Word x) { return rotr32(x, 6) ^ rotr32(x, 11) ^ rotr32(x, 25); }
  static Word small_sigma0(Word x) { return rotr32(x, 7) ^ rotr32(x, 18) ^ (x >> 3); }
  static Word small_sigma1(Word x) { return rotr32(x, 17) ^ rotr32(x, 19) ^ (x >> 10); }
  static Word constant(int t) { return kSha256RoundConstants[t]; }
};

struct Sha512Functions {
  using Word = uint64_t;
  static constexpr int kRounds = 80;
  static Word big_sigma0(Word x) { return rotr64(x, 28) ^ rotr64(x, 34) ^ rotr64(x, 39); }
  static Word big_sigma1(Word x) { return rotr64(x, 14) ^ rotr64(x, 18) ^ rotr64(x, 41); }
  static Word small_sigma0(Word x) { return rotr64(x, 1) ^ rotr64(x, 8) ^ (x >> 7); }
  static Word small_sigma1(Word x) { return rotr64(x, 19) ^ rotr64(x, 61) ^ (x >> 6); }
  static Word constant(int t) { return kSha512RoundConstants[t]; }
};

// One SHA-2 round. Instead of shifting eight variables every round, the callers rotate the
// argument order: after a round, the old h (now the new a) and d (the new e) are the only
// values that changed, so eight calls with rotated names make a full cycle and the compiler
// keeps everything in registers.
template <typename F>
inline void sha2_round(typename F::Word a, typename F::Word b, typename F::Word c, typename F::Word& d,
                       typename F::Word e, typename F::Word f, typename F::Word g, typename F::Word& h,
                       typename F::Word k_plus_w) {
  const typename F::Word t1 = h + F::big_sigma1(e) + choose(e, f, g) + k_plus_w;
  d += t1;
  h = t1 + F::big_sigma0(a) + majority(a, b, c);
}

// W[t] for t >= 16 into a ring of 16 words (FIPS 180-4 §6.2.2 step 1).
template <typename F>
inline typename F::Word sha2_schedule(typename F::Word* w, int t) {
  if (t >= 16) {
    w[t & 15] += F::small_sigma0(w[(t - 15) & 15]) + w[(t - 7) & 15] + F::small_sigma1(w[(t - 2) & 15]);
  }
  return w[t & 15] + F::constant(t);
}

template <typename F>
void sha2_compress(typename F::Word* state, const typename F::Word* words) {
  using Word = typename F::Word;
  Word w[16];
  std::memcpy(w, words, sizeof w);
  Word a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
  for (int t = 0; t < F::kRounds; t += 8) {
    sha2_round<F>(a, b, c, d, e, f, g, h, sha2_schedule<F>(w, t));
    sha2_round<F>(h, a, b, c, d, e, f, g, sha2_schedule<F>(w, t + 1));
    sha2_round<F>(g, h, a, b, c, d, e, f, sha2_schedule<F>(w, t + 2));
    sha2_round<F>(f, g, h, a, b, c, d, e, sha2_schedule<F>(w, t + 3));
    sha2_round<F>(e, f, g, h, a, b, c, d, sha2_schedule<F>(w, t + 4));
    sha2_round<F>(d, e, f, g, h, a, b, c, sha2_schedule<F>(w, t + 5));
    sha2_round<F>(c, d, e, f, g, h, a, b, sha2_schedule<F>(w, t + 6));
    sha2_round<F>(b, c, d, e, f, g, h, a, sha2_schedule<F>(w, t + 7));
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
  secure_wipe(w, sizeof w);
}

// One SHA-1 round, with the same renaming trick over five variables: only b (rotated) and e
// (which becomes the new a) change.
template <int Stage>
inline void sha1_round(uint32_t a, uint32_t& b, uint32_t c, uint32_t d, uint32_t& e, uint32_t w) {
  uint32_t f;
  if (Stage == 0) {
    f = choose(b, c, d);
  } else if (Stage == 2) {
    f = majority(b, c, d);
  } else {
    f = b ^ c ^ d;
  }
  e += rotl32(a, 5) + f + kSha1RoundConstants[Stage] + w;
  b = rotl32(b, 30);
}

inline uint32_t sha1_schedule(uint32_t* w, int t) {
  if (t >= 16) w[t & 15] = rotl32(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^ w[t & 15], 1);
  return w[t & 15];
}

template <int Stage>
inline void sha1_twenty_rounds(uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d, uint32_t& e, uint32_t* w) {
  for (int t = Stage * 20; t < Stage * 20 + 20; t += 5) {
    sha1_round<Stage>(a, b, c, d, e, sha1_schedule(w, t));
    sha1_round<Stage>(e, a, b, c, d, sha1_schedule(w, t + 1));
    sha1_round<Stage>(d, e, a, b, c, sha1_schedule(w, t + 2));
    sha1_round<Stage>(c, d, e, a, b, sha1_schedule(w, t + 3));
    sha1_round<Stage>(b, c, d, e, a, sha1_schedule(w, t + 4));
  }
}

}  // namespace

void sha1_compress_portable(uint32_t state[5], const uint32_t words[16]) {
  uint32_t w[16];
  std::memcpy(w, words, sizeof w);
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  sha1_twenty_rounds<0>(a, b, c, d, e, w);
  sha1_twenty_rounds<1>(a, b, c, d, e, w);
  sha1_twenty_rounds<2>(a, b, c, d, e, w);
  sha1_twenty_rounds<3>(a, b, c, d, e, w);
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  secure_wipe(w, sizeof w);
}

void sha256_compress_portable(uint32_t state[8], const uint32_t words[16]) {
  sha2_compress<Sha256Functions>(state, words);
}

void sha512_compress_portable(uint64_t state[8], const uint64_t words[16]) {
  sha2_compress<Sha512Functions>(state, words);
}

}  // namespace totp

namespace totp {
namespace {

using Compress32Fn = void (*)(uint32_t*, const uint32_t*);

// HMAC of counters from midstates with any 32-bit compression function: the inner block is the
// counter, the 0x80 pad, zeros and the bit length of ipad block + counter; the outer block is
// the inner digest, padded the same way.
void hmac_counters_portable(Compress32Fn compress, int state_words, const uint32_t* inner, const uint32_t* outer,
                            const uint64_t* counters, int count, uint32_t (*digests)[8]) {
  uint32_t block[16];
  for (int n = 0; n < count; ++n) {
    uint32_t* state = digests[n];
    std::memcpy(state, inner, sizeof(uint32_t) * state_words);
    std::memset(block, 0, sizeof block);
    block[0] = static_cast<uint32_t>(counters[n] >> 32);
    block[1] = static_cast<uint32_t>(counters[n]);
    block[2] = 0x80000000u;
    block[15] = (64 + 8) * 8;
    compress(state, block);
    std::memset(block, 0, sizeof block);
    std::memcpy(block, state, sizeof(uint32_t) * state_words);
    block[state_words] = 0x80000000u;
    block[15] = (64 + 4 * state_words) * 8;
    std::memcpy(state, outer, sizeof(uint32_t) * state_words);
    compress(state, block);
  }
  secure_wipe(block, sizeof block);
}

}  // namespace

void sha1_compress_pair_portable(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b) {
  sha1_compress_portable(a, words_a);
  sha1_compress_portable(b, words_b);
}

void sha256_compress_pair_portable(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b) {
  sha256_compress_portable(a, words_a);
  sha256_compress_portable(b, words_b);
}

void hmac_sha1_portable(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                        uint32_t (*digests)[8]) {
  hmac_counters_portable(sha1_compress_portable, 5, inner, outer, counters, count, digests);
}

void hmac_sha256_portable(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                          uint32_t (*digests)[8]) {
  hmac_counters_portable(sha256_compress_portable, 8, inner, outer, counters, count, digests);
}

}  // namespace totp
