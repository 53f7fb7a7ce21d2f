// Hash cores. Two kinds of entry points, each with a portable and (where the CPU has them) an
// accelerated version:
// - compression functions: absorb one block given as message words in host order; used once per
//   key for the HMAC midstates and the key's fingerprint (SHA-512 has only the portable one, which
//   also computes its codes);
// - HMAC-of-a-counter functions: given a key's inner and outer midstates, hash 1 to 3 counters at
//   once (the steps of a verification window), which is the whole per-code cost.
#pragma once
#include <cstdint>

namespace totp {

// Largest batch an HMAC core takes in one call.
inline constexpr int kMaxBatch = 3;

// digests[i][0..state words) <- HMAC(key, big-endian counters[i]) as host-order words, for
// i < count (1..kMaxBatch). inner/outer are the key's midstates.
using HmacCounters = void (*)(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                              uint32_t (*digests)[8]);

// state <- the compression of one 64-byte block (16 big-endian words, already in host order).
using Compress32 = void (*)(uint32_t* state, const uint32_t* words);
// The same for two independent states and blocks at once (a key's two HMAC midstates): the SHA
// instructions have room for two streams, so two cost little more than one.
using Compress32Pair = void (*)(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b);

// Portable C++: the reference every accelerated path is tested against.
void sha1_compress_portable(uint32_t state[5], const uint32_t words[16]);
void sha256_compress_portable(uint32_t state[8], const uint32_t words[16]);
void sha512_compress_portable(uint64_t state[8], const uint64_t words[16]);
void sha1_compress_pair_portable(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b);
void sha256_compress_pair_portable(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b);
void hmac_sha1_portable(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                        uint32_t (*digests)[8]);
void hmac_sha256_portable(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                          uint32_t (*digests)[8]);

#if defined(__x86_64__) || defined(_M_X64)
#define TOTP_HAVE_X86_SHA 1
bool cpu_has_x86_sha();  // SHA-NI plus the SSSE3/SSE4.1 the cores also use
void sha1_compress_x86(uint32_t* state, const uint32_t* words);
void sha256_compress_x86(uint32_t* state, const uint32_t* words);
void sha1_compress_pair_x86(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b);
void sha256_compress_pair_x86(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b);
void hmac_sha1_x86(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                   uint32_t (*digests)[8]);
void hmac_sha256_x86(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                     uint32_t (*digests)[8]);
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#define TOTP_HAVE_ARM_SHA 1
bool cpu_has_arm_sha();  // ARMv8 SHA1 and SHA2 extensions
void sha1_compress_arm(uint32_t* state, const uint32_t* words);
void sha256_compress_arm(uint32_t* state, const uint32_t* words);
void sha1_compress_pair_arm(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b);
void sha256_compress_pair_arm(uint32_t* a, const uint32_t* words_a, uint32_t* b, const uint32_t* words_b);
void hmac_sha1_arm(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                   uint32_t (*digests)[8]);
void hmac_sha256_arm(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                     uint32_t (*digests)[8]);
#endif

// The cores in use, chosen once at load from what the CPU offers.
struct HashCores {
  HmacCounters hmac_sha1;
  HmacCounters hmac_sha256;
  Compress32 sha1_compress;
  Compress32 sha256_compress;
  Compress32Pair sha1_compress_pair;
  Compress32Pair sha256_compress_pair;
  const char* name;  // "sha-ni", "armv8" or "portable": reported by the addon (SHA-1 and SHA-256)
};

const HashCores& active_cores();

// Chooses the CPU's SHA instructions when present and allowed, else the portable code. The
// tests call it with false to run every vector through both paths.
void select_cores(bool allow_cpu_extensions);

// True when this CPU offers an accelerated path (whether or not it is selected).
bool cpu_extensions_available();

}  // namespace totp
