// RFC 4648 §6 base32 decoding of a secret handed over as JavaScript text, so that a base32
// secret reaches the key state without a decoded copy in JavaScript.
//
// A fast path, not a second definition: it accepts exactly what src/base32.ts decodeBase32
// accepts (any case, spaces anywhere, '=' padding only at the end, no symbol count that no byte
// string can have), with the same bytes, and refuses everything else, including text it could
// decode but that does not fit `capacity`. On a refusal the TypeScript layer decodes the text
// itself, which gives the error (or, for text longer than the addon's buffer, the bytes).
// test/native-boundary.test.ts holds the two decoders to each other on fuzzed text.
#pragma once
#include <cstddef>
#include <cstdint>

namespace totp {

// Writes the bytes to out[0 .. *out_length) and returns true, or returns false with out wiped.
bool decode_base32(const char16_t* text, std::size_t length, uint8_t* out, std::size_t capacity,
                   std::size_t* out_length);

}  // namespace totp
