// libFuzzer target for everything the native code computes from caller input: key setup
// (init_key_state: any algorithm and digit value, secrets of 0..N bytes, shorter and longer than
// a hash block), code_at (any 64-bit counter), find_code (any non-negative 63-bit counter, every
// window, codes that match some slot, none, or a slot outside the window), find_counter (the HOTP
// look-ahead, 0..20 counters) and the key fingerprint. (fuzz_arena.cc covers the key arena and
// the base32 decoder.)
//
// Differential three ways, on every input:
//   - against an independent reference: OpenSSL's HMAC plus RFC 4226 §5.3 truncation, and
//     OpenSSL's SHA-256 for the fingerprint;
//   - the accelerated cores (SHA-NI / ARMv8) against the portable C++ cores, through key setup,
//     find_code, find_counter and code_at, and directly with batches of 1 to 3 counters;
//   - find_code and find_counter against the reference codes: each written slot holds its
//     counter's code, the returned index is the first match, and nothing past the matching
//     batch is written.
// Built with AddressSanitizer and UndefinedBehaviorSanitizer (scripts/sanitize.sh), so a stray
// read or write, a signed overflow or a bad shift stops the run with a reproducer file.
//
// Input layout (little-endian, missing bytes read as zero):
//   [0]      algorithm (taken as is when < 4, so the invalid value 3 is tried too)
//   [1]      digits: 4..9 (4, 5 and 9 must be refused)
//   [2]      window: 0..kMaxWindow
//   [3]      which code to look for: a window slot, a step just outside, or the raw value below
//   [4..11]  counter (the top bit is cleared for find_code, whose contract is counter >= 0)
//   [12..15] raw code value
//   [16..]   the secret (0 bytes means a null pointer, as an empty Uint8Array gives the addon)
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "../hmac_totp.h"
#include "../sha_cores.h"

namespace {

constexpr std::size_t kHeader = 16;
constexpr int32_t kCanary = 0x5a5a5a5a;

[[noreturn]] void fail(const char* what, uint64_t a, uint64_t b) {
  std::fprintf(stderr, "fuzz_totp: %s (%llu vs %llu)\n", what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  std::abort();
}

uint64_t read_le(const uint8_t* p, std::size_t n) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// RFC 4226 HOTP through OpenSSL: HMAC over the big-endian counter, dynamic truncation.
uint32_t reference_code(totp::Algorithm algorithm, const uint8_t* secret, std::size_t len, uint32_t digits,
                        uint64_t counter) {
  static const uint8_t kEmpty[1] = {0};
  const EVP_MD* md = algorithm == totp::Algorithm::kSha1     ? EVP_sha1()
                     : algorithm == totp::Algorithm::kSha256 ? EVP_sha256()
                                                             : EVP_sha512();
  uint8_t message[8];
  for (int i = 0; i < 8; ++i) message[i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (HMAC(md, len > 0 ? secret : kEmpty, static_cast<int>(len), message, sizeof message, digest, &digest_len) ==
      nullptr) {
    fail("OpenSSL HMAC failed", len, 0);
  }
  const unsigned offset = digest[digest_len - 1] & 0x0f;
  const uint32_t binary = (static_cast<uint32_t>(digest[offset] & 0x7f) << 24) |
                          (static_cast<uint32_t>(digest[offset + 1]) << 16) |
                          (static_cast<uint32_t>(digest[offset + 2]) << 8) | digest[offset + 3];
  uint32_t modulus = 1;
  for (uint32_t i = 0; i < digits; ++i) modulus *= 10;
  return binary % modulus;
}

// Slot i of find_code is the step counter + delta(i): 0, -1, +1, -2, +2, ...
int slot_delta(int slot) { return slot == 0 ? 0 : (slot % 2 == 1 ? -(slot + 1) / 2 : slot / 2); }

bool all_zero(const void* p, std::size_t n) {
  const auto* bytes = static_cast<const uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

struct Outcome {
  uint32_t code_at;
  int index;
  int32_t slots[totp::kMaxCandidates];
};

// One run of code_at and find_code on the cores selected now. The slot buffer is a heap block of
// exactly kMaxCandidates entries, so any write past the widest window is an ASan report.
Outcome run(const totp::KeyState& key, uint64_t code_counter, int64_t counter, uint32_t code, int window) {
  Outcome out;
  out.code_at = totp::code_at(key, code_counter);
  auto* slots = new int32_t[totp::kMaxCandidates];
  for (int i = 0; i < totp::kMaxCandidates; ++i) slots[i] = kCanary;
  out.index = totp::find_code(key, counter, code, window, slots);
  std::memcpy(out.slots, slots, sizeof out.slots);
  delete[] slots;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  uint8_t header[kHeader] = {};
  std::memcpy(header, data, size < kHeader ? size : kHeader);
  const uint8_t* secret = size > kHeader ? data + kHeader : nullptr;
  const std::size_t secret_len = size > kHeader ? size - kHeader : 0;

  const uint32_t algorithm_value = header[0] % 4;
  const uint32_t digits = 4 + header[1] % 6;
  const int window = header[2] % (totp::kMaxWindow + 1);
  const uint8_t selector = header[3];
  const uint64_t raw_counter = read_le(header + 4, 8);
  const uint32_t raw_code = static_cast<uint32_t>(read_le(header + 12, 4));

  totp::KeyState key, portable_key;
  std::memset(&key, 0xa5, sizeof key);
  totp::select_cores(false);
  totp::init_key_state(&portable_key, static_cast<totp::Algorithm>(algorithm_value), secret, secret_len, digits);
  totp::select_cores(true);
  const bool accepted =
      totp::init_key_state(&key, static_cast<totp::Algorithm>(algorithm_value), secret, secret_len, digits);
  if (std::memcmp(&key, &portable_key, sizeof key) != 0) fail("key setup differs between cores", algorithm_value, secret_len);
  totp::wipe_key_state(&portable_key);
  const bool valid = algorithm_value <= 2 && digits >= 6 && digits <= 8;
  if (accepted != valid) fail("init_key_state accepted an invalid key or refused a valid one", accepted, valid);
  if (!accepted) {
    if (!all_zero(&key, sizeof key)) fail("a refused key state was not wiped", algorithm_value, digits);
    return 0;
  }
  const auto algorithm = static_cast<totp::Algorithm>(algorithm_value);

  // find_code takes counter >= 0 (the addon refuses negatives before calling it).
  const int64_t counter = static_cast<int64_t>(raw_counter & 0x7fffffffffffffffull);
  const uint64_t ucounter = static_cast<uint64_t>(counter);

  // Reference codes for the window's slots; kNoCode where the step would be before 0.
  int32_t expected_slots[totp::kMaxCandidates];
  const int slots_in_window = 2 * window + 1;
  for (int i = 0; i < slots_in_window; ++i) {
    const int delta = slot_delta(i);
    if (delta < 0 && ucounter < static_cast<uint64_t>(-delta)) {
      expected_slots[i] = totp::kNoCode;
    } else {
      const uint64_t step = delta < 0 ? ucounter - static_cast<uint64_t>(-delta) : ucounter + static_cast<uint64_t>(delta);
      expected_slots[i] = static_cast<int32_t>(reference_code(algorithm, secret, secret_len, digits, step));
    }
  }

  // The code to look for: a slot's code (first match must win, even if an earlier slot repeats
  // it), the code one step beyond the window (must not match), or the raw value.
  uint32_t code = raw_code;
  if (selector < 128) {
    const int32_t slot_code = expected_slots[selector % slots_in_window];
    code = slot_code == totp::kNoCode ? raw_code : static_cast<uint32_t>(slot_code);
  } else if (selector < 192) {
    code = reference_code(algorithm, secret, secret_len, digits, ucounter + static_cast<uint64_t>(window) + 1);
  }
  int expected_index = -1;
  for (int i = 0; i < slots_in_window && expected_index < 0; ++i) {
    if (expected_slots[i] != totp::kNoCode && static_cast<uint32_t>(expected_slots[i]) == code) expected_index = i;
  }
  const uint32_t expected_code_at = reference_code(algorithm, secret, secret_len, digits, raw_counter);

  for (bool accelerated : {false, true}) {
    totp::select_cores(accelerated);
    const Outcome got = run(key, raw_counter, counter, code, window);
    if (got.code_at != expected_code_at) fail("code_at differs from OpenSSL HMAC", got.code_at, expected_code_at);
    if (got.index != expected_index) fail("find_code returned the wrong slot", static_cast<uint64_t>(got.index), static_cast<uint64_t>(expected_index));
    // Slots 0..index (all of the window on a miss) hold their steps' codes. The batch holding the
    // match is written whole (hmac_totp.h): SHA-256 computes slots 0..2 together when the window
    // has them, SHA-1 and SHA-512 slot 0 alone; after that every batch is a pair (-d, +d). A slot
    // written beyond the match must hold its step's code too. Nothing past the batch is touched.
    const int needed = got.index < 0 ? slots_in_window : got.index + 1;
    const int first_batch = algorithm == totp::Algorithm::kSha256 && slots_in_window >= 3 ? 3 : 1;
    const int batch_end = got.index < first_batch ? first_batch
                                                  : first_batch + ((got.index - first_batch) / 2 + 1) * 2;
    const int may_write = got.index < 0 ? needed : (batch_end < slots_in_window ? batch_end : slots_in_window);
    for (int i = 0; i < totp::kMaxCandidates; ++i) {
      const bool ok = i < needed     ? got.slots[i] == expected_slots[i]
                      : i < may_write ? got.slots[i] == expected_slots[i] || got.slots[i] == kCanary
                                      : got.slots[i] == kCanary;
      if (!ok) fail("find_code slot content", static_cast<uint64_t>(i), static_cast<uint32_t>(got.slots[i]));
    }
  }

  // The HOTP look-ahead from the same counter over 2 * window further counters, for the same code.
  const int look_ahead = 2 * window;
  int32_t expected_forward[totp::kMaxCandidates];
  int expected_forward_index = -1;
  for (int i = 0; i <= look_ahead; ++i) {
    expected_forward[i] = static_cast<int32_t>(reference_code(algorithm, secret, secret_len, digits, ucounter + static_cast<uint64_t>(i)));
    if (expected_forward_index < 0 && static_cast<uint32_t>(expected_forward[i]) == code) expected_forward_index = i;
  }
  for (bool accelerated : {false, true}) {
    totp::select_cores(accelerated);
    auto* slots = new int32_t[totp::kMaxCandidates];
    for (int i = 0; i < totp::kMaxCandidates; ++i) slots[i] = kCanary;
    const int index = totp::find_counter(key, counter, code, look_ahead, slots);
    if (index != expected_forward_index) fail("find_counter returned the wrong counter", static_cast<uint64_t>(index), static_cast<uint64_t>(expected_forward_index));
    const int needed = index < 0 ? look_ahead + 1 : index + 1;
    for (int i = 0; i < totp::kMaxCandidates; ++i) {
      const bool ok = i < needed ? slots[i] == expected_forward[i]
                                 : slots[i] == kCanary || (i <= look_ahead && slots[i] == expected_forward[i]);
      if (!ok) fail("find_counter slot content", static_cast<uint64_t>(i), static_cast<uint32_t>(slots[i]));
    }
    delete[] slots;
  }

  // The fingerprint: the first 32 bits of SHA-256("totp-handshake key id\0" || secret), on both cores.
  {
    static const char kDomain[] = "totp-handshake key id";
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx, kDomain, sizeof kDomain) != 1 || EVP_DigestUpdate(ctx, secret, secret_len) != 1 ||
        EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1) {
      fail("OpenSSL SHA-256 failed", secret_len, 0);
    }
    EVP_MD_CTX_free(ctx);
    const uint32_t want = (static_cast<uint32_t>(digest[0]) << 24) | (static_cast<uint32_t>(digest[1]) << 16) |
                          (static_cast<uint32_t>(digest[2]) << 8) | digest[3];
    for (bool accelerated : {false, true}) {
      totp::select_cores(accelerated);
      const uint32_t got = totp::fingerprint(secret, secret_len);
      if (got != want) fail("fingerprint differs from OpenSSL SHA-256", got, want);
    }
  }

  // The HMAC cores themselves, with batches of 1 to kMaxBatch counters, on arbitrary counters:
  // find_code never asks SHA-1 for three, nor any core for counters this far apart.
  if (algorithm != totp::Algorithm::kSha512) {
    const uint64_t counters[totp::kMaxBatch] = {raw_counter, ~raw_counter, ucounter + raw_code};
    const int count = 1 + selector % totp::kMaxBatch;
    const int words = algorithm == totp::Algorithm::kSha1 ? 5 : 8;
    uint32_t digests[2][totp::kMaxBatch][8] = {};
    for (int accelerated = 0; accelerated < 2; ++accelerated) {
      totp::select_cores(accelerated == 1);
      const totp::HashCores& cores = totp::active_cores();
      (algorithm == totp::Algorithm::kSha1 ? cores.hmac_sha1 : cores.hmac_sha256)(key.w32.inner, key.w32.outer, counters,
                                                                                    count, digests[accelerated]);
    }
    for (int n = 0; n < count; ++n) {
      for (int w = 0; w < words; ++w) {
        if (digests[0][n][w] != digests[1][n][w]) fail("HMAC cores differ", static_cast<uint64_t>(count), static_cast<uint64_t>(n));
      }
    }
  }

  totp::wipe_key_state(&key);
  if (!all_zero(&key, sizeof key)) fail("wipe_key_state left key material", 0, 0);
  return 0;
}
