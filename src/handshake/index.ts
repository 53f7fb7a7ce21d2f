// The shared-key handshake (SPEC §3): the owner that writes and rotates the key file, the reader
// that follows it, and the events both report.
export type { AuditEvent, AuditListener, Reason } from './events.js';
export type { KeyFileFormat } from './keyfile.js';
export { KeyOwner, type KeyOwnerOptions } from './owner.js';
export { KeyReader, type KeyReaderOptions } from './reader.js';
export type { CheckResult, KeyTiming, OtpVerifier } from './types.js';
