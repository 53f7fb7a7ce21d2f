// libFuzzer target for the addon's bookkeeping: the key arena (key_arena.h) under any sequence of
// adds, removes, lookups and forged handles, and the base32 decoder (base32.h) on any text.
//
// The arena is checked against a model that knows every handle ever issued: a live handle finds
// its own key and secret, a removed one and any number never issued find nothing, no handle is
// issued twice, and the chunks mapped are those holding live keys plus at most one spare. With
// the mask at 0 a handle's low 24 bits are its slot index, which the model uses to know the
// chunks; a second arena with a fuzzed mask and generation limit must agree on every answer.
// The decoder is checked against a reference written the plain way (a string of bits), with the
// rules of src/base32.ts.
//
// Input: [0] mode (even: arena, odd: base32), then for the arena [1] the generation limit
// (0..255 -> small limits reach slot retirement), [2..9] the second arena's mask, then operations
// of 1 byte each plus their operands; for base32, the rest as UTF-16 text (2 bytes a unit, with
// a byte below 0x80 standing for itself so that the corpus finds the alphabet).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../base32.h"
#include "../hmac_totp.h"
#include "../key_arena.h"

namespace {

[[noreturn]] void fail(const char* what, uint64_t a, uint64_t b) {
  std::fprintf(stderr, "fuzz_arena: %s (%llu vs %llu)\n", what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  std::abort();
}

struct Reader {
  const uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  bool more() const { return at < size; }
  uint8_t byte() { return at < size ? data[at++] : 0; }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(byte()) << (8 * i);
    return v;
  }
};

struct Issued {
  std::vector<uint8_t> secret;
  bool live;
};

void fuzz_arena(Reader& in) {
  const uint8_t limit_byte = in.byte();
  const uint32_t limit = limit_byte < 8 ? limit_byte : totp::KeyArena::kMaxGeneration;
  const uint64_t mask = in.u64();
  totp::KeyArena plain(0, limit);
  totp::KeyArena masked(mask, limit);
  totp::KeyState state;
  std::memset(&state, 0, sizeof state);
  std::map<totp::Handle, Issued> issued;  // plain arena's handles
  std::map<uint64_t, std::size_t> live_in_chunk;  // chunk index -> live keys in it (plain arena)
  std::size_t live = 0;
  const auto chunk_of = [](totp::Handle plain_handle) { return (plain_handle & 0xffffff) / totp::KeyArena::kSlotsPerChunk; };
  const auto gone = [&](totp::Handle plain_handle) {
    if (--live_in_chunk[chunk_of(plain_handle)] == 0) live_in_chunk.erase(chunk_of(plain_handle));
    --live;
  };
  std::map<totp::Handle, totp::Handle> twin;  // plain handle -> the masked arena's handle for that key
  std::vector<totp::Handle> order;
  uint8_t secret[300];

  for (int steps = 0; in.more() && steps < 2000; ++steps) {
    const uint8_t op = in.byte() % 4;
    if (op == 0) {  // add a key with a secret of 0..299 bytes (past 32: stored apart)
      const std::size_t length = in.byte() + (in.byte() & 1 ? 44 : 0);
      for (std::size_t i = 0; i < length; ++i) secret[i] = static_cast<uint8_t>(i * 7 + steps);
      state.digits = static_cast<uint32_t>(steps);
      const totp::Handle a = plain.add(state, secret, length);
      const totp::Handle b = masked.add(state, secret, length);
      if ((a == totp::kNoHandle) != (b == totp::kNoHandle)) fail("the arenas disagree on an add", a, b);
      if (a == totp::kNoHandle) continue;
      if (a >= (uint64_t{1} << 53) || b >= (uint64_t{1} << 53)) fail("a handle past 53 bits", a, b);
      if (issued.count(a) != 0) fail("a handle issued twice", a, 0);
      if (((a ^ b) & ((uint64_t{1} << 53) - 1)) != (mask & ((uint64_t{1} << 53) - 1))) fail("the mask is not the only difference", a, b);
      issued[a] = Issued{std::vector<uint8_t>(secret, secret + length), true};
      twin[a] = b;
      order.push_back(a);
      ++live_in_chunk[chunk_of(a)];
      ++live;
    } else if (op == 1 && !order.empty()) {  // remove an issued key, live or not
      const totp::Handle a = order[in.byte() % order.size()];
      Issued& key = issued[a];
      const bool removed = plain.remove(a);
      if (removed != key.live || masked.remove(twin[a]) != key.live) fail("remove answered wrong", removed, key.live);
      if (key.live) gone(a);
      key.live = false;
    } else if (op == 2) {  // a number from the input as a handle: names a key only if issued and live
      const totp::Handle forged = in.u64() >> (in.byte() % 64);
      const auto found = issued.find(forged);
      const bool live = found != issued.end() && found->second.live;
      if ((plain.find(forged) != nullptr) != live) fail("a handle found a key it does not name", forged, live);
      if (in.byte() & 1) {
        if (plain.remove(forged) != live) fail("remove of a forged handle", forged, live);
        if (live) {
          found->second.live = false;
          masked.remove(twin[forged]);
          gone(forged);
        }
      }
    } else if (!order.empty()) {  // look up an issued key in both arenas
      const totp::Handle a = order[in.byte() % order.size()];
      const Issued& key = issued[a];
      totp::StoredKey* p = plain.find(a);
      totp::StoredKey* m = masked.find(twin[a]);
      if ((p != nullptr) != key.live || (m != nullptr) != key.live) fail("find answered wrong", p != nullptr, key.live);
      if (p != nullptr) {
        if (p->secret_length != key.secret.size() || m->secret_length != key.secret.size() ||
            (!key.secret.empty() && (std::memcmp(p->secret(), key.secret.data(), key.secret.size()) != 0 ||
                                     std::memcmp(m->secret(), key.secret.data(), key.secret.size()) != 0))) {
          fail("a key's secret changed", p->secret_length, key.secret.size());
        }
      }
    }
    // Counts: live keys, and chunks = those holding a live key plus at most one spare.
    if (plain.live_keys() != live || masked.live_keys() != live) fail("live key count", plain.live_keys(), live);
    if (plain.mapped_chunks() < live_in_chunk.size() || plain.mapped_chunks() > live_in_chunk.size() + 1) {
      fail("mapped chunks", plain.mapped_chunks(), live_in_chunk.size());
    }
  }
  totp::wipe_key_state(&state);
}

// src/base32.ts decodeBase32, the plain way: bits as a string; std::string() for a refusal.
bool reference_base32(const std::u16string& text, std::string* bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string bits;
  std::size_t symbols = 0;
  bool padding = false;
  for (char16_t c : text) {
    if (c == u' ') continue;
    if (c == u'=') {
      padding = true;
      continue;
    }
    const char16_t upper = c >= u'a' && c <= u'z' ? static_cast<char16_t>(c - 32) : c;
    const char* at = upper < 128 && upper != 0 ? std::strchr(kAlphabet, static_cast<char>(upper)) : nullptr;
    if (at == nullptr || padding) return false;
    const int value = static_cast<int>(at - kAlphabet);
    for (int bit = 4; bit >= 0; --bit) bits.push_back(((value >> bit) & 1) ? '1' : '0');
    ++symbols;
  }
  if (symbols % 8 == 1 || symbols % 8 == 3 || symbols % 8 == 6) return false;
  bytes->clear();
  for (std::size_t i = 0; i + 8 <= bits.size(); i += 8) bytes->push_back(static_cast<char>(std::stoi(bits.substr(i, 8), nullptr, 2)));
  return true;
}

void fuzz_base32(Reader& in) {
  std::u16string text;
  while (in.more()) {
    const uint8_t first = in.byte();
    text.push_back(first < 0x80 ? static_cast<char16_t>(first) : static_cast<char16_t>((first << 8) | in.byte()));
  }
  std::string want;
  const bool ok = reference_base32(text, &want);
  const std::size_t capacity = text.size() % 3 == 0 ? 8 : 1024;  // sometimes too small for the output
  auto* out = new uint8_t[capacity];
  std::size_t length = 0;
  const bool got = totp::decode_base32(text.data(), text.size(), out, capacity, &length);
  const bool fits = ok && want.size() <= capacity;
  if (got != fits) fail("decode_base32 accepts what the reference refuses, or the reverse", got, fits);
  if (got && (length != want.size() || std::memcmp(out, want.data(), length) != 0)) fail("decode_base32 bytes", length, want.size());
  delete[] out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  Reader in{data, size};
  if (in.byte() % 2 == 0) {
    fuzz_arena(in);
  } else {
    fuzz_base32(in);
  }
  return 0;
}
