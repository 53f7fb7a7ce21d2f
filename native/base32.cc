#include "base32.h"

#include "secure_wipe.h"

namespace totp {
namespace {

// Character code -> 5-bit value, or -1; lower case decodes like upper case.
struct Base32Table {
  int8_t value[128];
  constexpr Base32Table() : value() {
    for (int c = 0; c < 128; ++c) value[c] = -1;
    for (int i = 0; i < 26; ++i) {
      value['A' + i] = static_cast<int8_t>(i);
      value['a' + i] = static_cast<int8_t>(i);
    }
    for (int i = 0; i < 6; ++i) value['2' + i] = static_cast<int8_t>(26 + i);
  }
};
constexpr Base32Table kTable;

}  // namespace

bool decode_base32(const char16_t* text, std::size_t length, uint8_t* out, std::size_t capacity,
                   std::size_t* out_length) {
  std::size_t written = 0;
  uint32_t buffer = 0;
  uint64_t group = 0;
  int bits = 0;
  std::size_t symbols = 0;
  bool padding = false;
  bool ok = true;
  for (std::size_t i = 0; i < length && ok; ++i) {
    // Eight symbols in a row at a group boundary: 40 bits, five bytes, no test per symbol (a
    // space, '=' or any other character in the eight makes `bad` negative, and the loop below
    // takes them one by one instead).
    while (bits == 0 && !padding && length - i >= 8 && capacity - written >= 5) {
      group = 0;
      int bad = 0;
      for (int k = 0; k < 8; ++k) {
        const char16_t c = text[i + k];
        const int value = c < 128 ? kTable.value[c] : -1;
        bad |= value;
        group = (group << 5) | static_cast<uint64_t>(value & 31);
      }
      if (bad < 0) break;
      for (int k = 0; k < 5; ++k) out[written + k] = static_cast<uint8_t>(group >> (32 - 8 * k));
      written += 5;
      symbols += 8;
      i += 8;
    }
    if (i == length) break;
    const char16_t c = text[i];
    if (c == u' ') continue;
    if (c == u'=') {
      padding = true;
      continue;
    }
    const int value = c < 128 ? kTable.value[c] : -1;
    if (value < 0 || padding) {
      ok = false;
      break;
    }
    buffer = ((buffer << 5) | static_cast<uint32_t>(value)) & 0xfff;
    bits += 5;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      if (written == capacity) {
        ok = false;
        break;
      }
      out[written++] = static_cast<uint8_t>(buffer >> bits);
    }
  }
  // A group of 8 symbols holds 5 bytes; 2, 4, 5 or 7 trailing symbols hold 1-4 bytes.
  const std::size_t rest = symbols % 8;
  if (rest == 1 || rest == 3 || rest == 6) ok = false;
  secure_wipe(&buffer, sizeof buffer);
  secure_wipe(&group, sizeof group);
  if (!ok) {
    secure_wipe(out, written);
    return false;
  }
  *out_length = written;
  return true;
}

}  // namespace totp
