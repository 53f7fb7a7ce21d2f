// The shared-key handshake (SPEC §3): the owner that writes and rotates the key file and the
// reader that follows it.
export type { KeyFileFormat } from './keyfile.js';
export { KeyOwner, type KeyOwnerOptions } from './owner.js';
export { KeyReader, type KeyReaderOptions } from './reader.js';
export { type KeyLocation, type KeySocketOptions, listenOnKeySocket } from './socket.js';
