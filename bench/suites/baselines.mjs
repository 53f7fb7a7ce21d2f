// Baselines: what else a service uses to trust a request from another service.
//   - a payload HMAC-SHA256 checked with timingSafeEqual (the webhook-signature pattern: the
//     signature arrives as hex in a header, the body is hashed);
//   - an HS256 JWT, verified by the three common libraries.
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';

import { checkAcceptReject } from '../lib/correctness.mjs';
import { HMAC_KEY, JWT, JWT_CLAIMS, JWT_FORGED, JWT_SECRET, payload } from '../lib/fixtures.mjs';

function payloadHmac(size) {
  const body = payload(size);
  const signature = createHmac('sha256', HMAC_KEY).update(body).digest('hex');
  const forged = createHmac('sha256', Buffer.from('not the key')).update(body).digest('hex');
  const check = (signatureHex) => {
    const expected = createHmac('sha256', HMAC_KEY).update(body).digest();
    const given = Buffer.from(signatureHex, 'hex');
    return given.length === expected.length && timingSafeEqual(expected, given);
  };
  return async () => {
    await checkAcceptReject(`payload HMAC-SHA256 ${size} B`, () => check(signature), () => check(forged));
    return { call: () => check(signature), expect: true };
  };
}

const isGenuine = (claims) => claims !== null && typeof claims === 'object' && claims.sub === JWT_CLAIMS.sub && claims.exp === JWT_CLAIMS.exp;
// Whether a verifier lets the forged token through (it must throw or reject instead).
const acceptsForged = async (verifyToken) => {
  try {
    await verifyToken(JWT_FORGED);
    return true;
  } catch {
    return false;
  }
};

// jose 6: `jwtVerify(token, secret)` with the secret as a Uint8Array, as its README shows.
async function jose() {
  const { jwtVerify } = await import('jose');
  const secret = new Uint8Array(JWT_SECRET);
  const options = { algorithms: ['HS256'] };
  const verifyToken = (token) => jwtVerify(token, secret, options);
  await checkAcceptReject('jose jwtVerify', async () => isGenuine((await verifyToken(JWT)).payload), () => acceptsForged(verifyToken));
  return { call: () => verifyToken(JWT), accepted: (result) => isGenuine(result.payload), expect: true, async: true };
}

// The same with the secret imported once as a CryptoKey (jose accepts one; in Node a Uint8Array
// secret is imported into a CryptoKey on every call).
async function joseCryptoKey() {
  const { jwtVerify } = await import('jose');
  const secret = await crypto.subtle.importKey('raw', new Uint8Array(JWT_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const options = { algorithms: ['HS256'] };
  const verifyToken = (token) => jwtVerify(token, secret, options);
  await checkAcceptReject('jose jwtVerify (CryptoKey)', async () => isGenuine((await verifyToken(JWT)).payload), () => acceptsForged(verifyToken));
  return { call: () => verifyToken(JWT), accepted: (result) => isGenuine(result.payload), expect: true, async: true };
}

// jsonwebtoken 9: `verify(token, secret, { algorithms })`. With a KeyObject secret (made once);
// with a Buffer, it builds a KeyObject from the bytes on every call (createSecretKey).
async function jsonwebtoken(secretKind) {
  const { default: jwt } = await import('jsonwebtoken');
  const secret = secretKind === 'keyobject' ? createSecretKey(JWT_SECRET) : Buffer.from(JWT_SECRET);
  const options = { algorithms: ['HS256'] };
  const verifyToken = (token) => jwt.verify(token, secret, options);
  await checkAcceptReject(`jsonwebtoken verify (${secretKind})`, () => isGenuine(verifyToken(JWT)), () => acceptsForged(verifyToken));
  return { call: () => verifyToken(JWT), accepted: isGenuine, expect: true };
}

// fast-jwt 6: a verifier made once with createVerifier, its token cache off (the default; said
// explicitly), so every call checks the signature.
async function fastJwt() {
  const { createVerifier } = await import('fast-jwt');
  const verifyToken = createVerifier({ key: JWT_SECRET, algorithms: ['HS256'], cache: false });
  await checkAcceptReject('fast-jwt verifier', () => isGenuine(verifyToken(JWT)), () => acceptsForged(verifyToken));
  return { call: () => verifyToken(JWT), accepted: isGenuine, expect: true };
}

export const cases = [
  { id: 'hmac.sha256.1k', impl: 'payload HMAC-SHA256 1 KiB', op: 'createHmac + timingSafeEqual', k: 64, quick: true, setup: payloadHmac(1024) },
  { id: 'hmac.sha256.64k', impl: 'payload HMAC-SHA256 64 KiB', op: 'createHmac + timingSafeEqual', k: 4, quick: false, setup: payloadHmac(65536) },
  { id: 'jwt.jose', impl: 'jose 6 jwtVerify', op: 'HS256 verify, Uint8Array secret (async)', k: 4, quick: false, setup: jose },
  { id: 'jwt.jose.cryptokey', impl: 'jose 6 jwtVerify', op: 'HS256 verify, CryptoKey secret (async)', k: 4, quick: false, setup: joseCryptoKey },
  { id: 'jwt.jsonwebtoken.keyobject', impl: 'jsonwebtoken 9 verify', op: 'HS256 verify, KeyObject secret', k: 32, quick: false, setup: () => jsonwebtoken('keyobject') },
  { id: 'jwt.jsonwebtoken.buffer', impl: 'jsonwebtoken 9 verify', op: 'HS256 verify, Buffer secret', k: 1, quick: false, setup: () => jsonwebtoken('buffer') },
  { id: 'jwt.fast-jwt', impl: 'fast-jwt 6 createVerifier', op: 'HS256 verify, no cache', k: 32, quick: true, setup: fastJwt },
].map((c) => ({ suite: 'baselines', ...c }));
