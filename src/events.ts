// Audit events: what KeyOwner, KeyReader and the HTTP guards report through `onEvent`, one
// vocabulary for all of them. No event ever carries a secret or a valid code: only key
// fingerprints (`keyId`), outcomes and messages written by this package, never the content of a
// key file or of a request header.

/**
 * Why a code or a key file was refused. A verifier (KeyOwner) says missing, malformed, invalid
 * or no-key; the HTTP guards add replayed and throttled, which only they can know.
 */
export type Reason = 'missing' | 'malformed' | 'invalid' | 'replayed' | 'throttled' | 'no-key';

export interface AuditEvent {
  /**
   * load: a key was read from the file (including another process's rotation);
   * rotate: this process wrote a new key; verify: a code was checked; throttle: a client was
   * refused for too many failures; error: a key file could not be used (reason missing or
   * malformed) or could not be written.
   */
  type: 'load' | 'rotate' | 'verify' | 'throttle' | 'error';
  /** ISO-8601 time of the event. */
  at: string;
  keyId?: string;
  ok?: boolean;
  reason?: Reason;
  /** For verify: the matched step offset (-1 = one step old). */
  delta?: number;
  message?: string;
}

export type AuditListener = (event: AuditEvent) => void;

const failedListeners = new WeakSet<AuditListener>();

/**
 * Calls the listener, if any, with `at` filled in. A listener that throws must not break
 * verification or rotation: its error is reported once per listener as a process warning
 * (where the runtime has process warnings; the guards also run in Web runtimes).
 */
export function emitEvent(listener: AuditListener | undefined, event: Omit<AuditEvent, 'at'>): void {
  if (listener === undefined) return;
  try {
    listener({ ...event, at: new Date().toISOString() } as AuditEvent);
  } catch (error) {
    if (failedListeners.has(listener)) return;
    failedListeners.add(listener);
    globalThis.process?.emitWarning?.(`totp-handshake: an onEvent listener threw: ${(error as Error)?.message ?? String(error)}`);
  }
}
