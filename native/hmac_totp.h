// HOTP/TOTP codes (RFC 4226, RFC 6238) from precomputed HMAC midstates.
//
// HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). The first block of each hash depends only on
// the key, so the state after compressing it (the midstate) is computed once per key. A code for
// an 8-byte counter is then two compressions for SHA-1/SHA-256, two 128-byte blocks for SHA-512.
// Both kinds of search below compare every candidate with equal_bit (hmac_totp.cc), whose time
// does not depend on how many digits of a wrong code are right.
#pragma once
#include <cstddef>
#include <cstdint>

namespace totp {

enum class Algorithm : uint32_t { kSha1 = 0, kSha256 = 1, kSha512 = 2 };

// Verification windows are bounded so that the caller's code buffer has a fixed size. The addon
// exports kMaxWindow, and the TypeScript loader refuses an addon whose limit is not its own
// MAX_WINDOW (src/options.ts): the limit is stated here and there once each, and checked.
inline constexpr int kMaxWindow = 10;
// A TOTP window of w steps each side has 2w + 1 candidates; an HOTP look-ahead of n has n + 1.
inline constexpr int kMaxCandidates = 2 * kMaxWindow + 1;
inline constexpr int kMaxLookAhead = kMaxCandidates - 1;
// Written in a candidate slot whose step would be before the counter's origin.
inline constexpr int32_t kNoCode = -1;

struct KeyState {
  // SHA-1 uses 5 words of each 32-bit midstate, SHA-256 all 8; SHA-512 uses the 64-bit ones.
  union {
    struct {
      uint32_t inner[8];
      uint32_t outer[8];
    } w32;
    struct {
      uint64_t inner[8];
      uint64_t outer[8];
    } w64;
  };
  Algorithm algorithm;
  uint32_t digits;
};

// Fills `key` from a raw secret of any length (a null pointer when it is 0). Returns false (and
// leaves `key` wiped) for an unknown algorithm or digit count; the TypeScript layer has already
// validated both, so this is a last guard.
bool init_key_state(KeyState* key, Algorithm algorithm, const uint8_t* secret, std::size_t secret_len,
                    uint32_t digits);

void wipe_key_state(KeyState* key);

// The code for one counter value (the HOTP value, already reduced to `digits` digits).
uint32_t code_at(const KeyState& key, uint64_t counter);

// Looks for `code` among the steps counter-window .. counter+window, in the order 0, -1, +1,
// -2, +2, ... Each candidate's code is written to candidates[i] (kNoCode for a step before 0).
// Returns the index of the first match, or -1 when none matches (all 2*window+1 slots written);
// on a match at least slots 0..index are written (the batch holding the match is written whole).
int find_code(const KeyState& key, int64_t counter, uint32_t code, int window, int32_t* candidates);

// HOTP resynchronisation (RFC 4226 §7.4): looks for `code` among the counters counter ..
// counter + look_ahead, lowest first. candidates[i] receives the code of counter + i; the return
// value and what is written follow find_code (0 <= look_ahead <= kMaxLookAhead).
int find_counter(const KeyState& key, int64_t counter, uint32_t code, int look_ahead, int32_t* candidates);

// The key's fingerprint for logs: the first 32 bits (big-endian) of
// SHA-256("totp-handshake key id\0" || secret). One-way, and the same for one secret whatever its
// algorithm or digits; src/engine/js.ts computes the same value with node:crypto.
uint32_t fingerprint(const uint8_t* secret, std::size_t secret_len);

}  // namespace totp
