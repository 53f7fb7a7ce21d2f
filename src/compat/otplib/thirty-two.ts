// The base32 codec behind otplib 12's authenticator (its plugin-thirty-two preset uses the
// `thirty-two` package). Reproduced for what it does with any input, since authenticator
// secrets typed by people reach it:
// - decoding stops at the first '=', reads lower case like upper case, reads every byte below
//   '0' (space, '-', ...) as the symbol 0, and reads the other non-alphabet bytes below 0x80
//   ('0', '1', '8', '9', punctuation) as the 8-bit value 0xff, which spills into the bits of
//   the symbols before it in the same byte; a byte of 0x80 or more (any non-ASCII character)
//   throws; a trailing partial byte is dropped.
// - encoding is RFC 4648 with '=' padding (the authenticator strips it).

const SYMBOLS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Value of each byte from 0x30 to 0x7f: 0-31 for the alphabet (either case), 0xff otherwise. */
const VALUES = new Uint8Array(0x50).fill(0xff);
for (let i = 0; i < SYMBOLS.length; i++) {
  const c = SYMBOLS.charCodeAt(i);
  VALUES[c - 0x30] = i;
  if (i < 26) VALUES[c + 0x20 - 0x30] = i;
}

/** The bytes the package reads from its argument: a Buffer as it is, a number as that many zeros. */
function inputBytes(input: unknown): Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (typeof input === 'number') return Buffer.alloc(input);
  return Buffer.from(input as string);
}

export function decodeThirtyTwo(encoded: unknown): Buffer {
  const bytes = inputBytes(encoded);
  const out = Buffer.alloc(Math.ceil((bytes.length * 5) / 8));
  let length = 0;
  // `used`: bits of the byte being assembled that earlier symbols have filled (0-7).
  let used = 0;
  let pending = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (byte === 0x3d) break;
    if (byte >= 0x80) throw new Error('Invalid input - it is not base32 encoded string');
    const value = byte < 0x30 ? 0 : (VALUES[byte - 0x30] as number);
    const free = 8 - used;
    if (free >= 5) {
      // The symbol fits in the current byte: its low bit lands `free - 5` bits up.
      pending |= (value << (free - 5)) & 0xff;
      used += 5;
      if (used === 8) {
        out[length++] = pending;
        pending = 0;
        used = 0;
      }
    } else {
      // It straddles two bytes: its top `free` bits close this one, the rest open the next.
      const carried = 5 - free;
      pending |= (value >>> carried) & 0xff;
      out[length++] = pending;
      pending = (value << (8 - carried)) & 0xff;
      used = carried;
    }
  }
  return out.subarray(0, length);
}

export function encodeThirtyTwo(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | (bytes[i] as number)) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += SYMBOLS[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += SYMBOLS[(buffer << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}
