// EtcdKeyMirror: keeps one host's key file in step with the keyring in etcd, so that thin
// clients (KeyReader, bash with oathtool, Python, PHP) work on every host unchanged.
//
// It follows the keyring read-only and writes the active key into the file, in the key file
// format, atomically (writeKeyFile): the current key when it starts, then each new key at its
// activation time, by which time every owner has held it for `activationDelay` (a key that
// arrives late is written a second after it arrived, see SETTLE_MS). It writes nothing
// else: not a key before its activation, not a file that is not a key file (writeKeyFile refuses
// to replace one), and nothing into etcd, so its etcd user needs only read access to the prefix.
import { type AuditEvent, type AuditListener, emitEvent } from '../events.js';
import { type KeyFileFormat, writeKeyFile } from '../handshake/keyfile.js';
import { later } from '../handshake/timer.js';
import { fileMode, keyFileFormat, keyPath, listener } from '../handshake/validate.js';
import { milliseconds, optionsObject } from '../internal/options.js';
import { SerialQueue } from '../internal/serial.js';
import type { TotpKey } from '../key.js';
import { EtcdError, type KeyValue } from './etcd.js';
import { KeyringFollower } from './follower.js';
import { decodeRing, Schedule } from './keyring.js';
import { CONNECTION_OPTION_NAMES, connect, type EtcdConnectionOptions } from './options.js';

export interface EtcdKeyMirrorOptions extends EtcdConnectionOptions {
  /** The host's shared key file, e.g. '/opt/shared/otp.key'. Its directory must exist. */
  path: string;
  /** Permission bits of the key file. Default 0o600 (0o640 for readers in the file's group). */
  fileMode?: number;
  /** 'base32' or 'uri'. Default: base32 for keys with the default parameters, uri for any other. */
  format?: KeyFileFormat;
  /** How often (ms) a quorum read checks that the mirror is in step with etcd. Default 1000. */
  checkEvery?: number;
  /** How long start() waits for etcd and a keyring (ms). Default 10000. */
  wait?: number;
  /** Receives `load` (a key arrived from etcd), `rotate` (the file was written) and `error` events. */
  onEvent?: AuditListener;
}

const OPTION_NAMES: readonly (keyof EtcdKeyMirrorOptions)[] = [...CONNECTION_OPTION_NAMES, 'path', 'fileMode', 'format', 'checkEvery', 'wait', 'onEvent'];
const DEFAULT_CHECK_MS = 1000;
const DEFAULT_WAIT_MS = 10_000;
// A key that arrives close to or after its activation time (this mirror could not reach etcd, or
// the rotation committed late, once etcd healed) is written no sooner than this after it arrived,
// so that the owners, which receive it the same way, hold it before any thin client uses it.
const SETTLE_MS = 1000;
// A failed write (disk full, read-only mount) is tried again this soon.
const RETRY_MS = 1000;

/**
 * Mirrors a keyring's active key into a host's key file.
 *
 * @example
 * ```ts
 * const mirror = await EtcdKeyMirror.start({
 *   endpoints: ['https://etcd-0:2379'], name: 'billing-api', path: '/opt/shared/otp.key',
 *   auth: { username: 'totp-mirror', password }, tls: { ca },
 * });
 * ```
 */
export class EtcdKeyMirror {
  readonly path: string;
  readonly fileMode: number;
  readonly #format: KeyFileFormat | undefined;
  readonly #ringKey: string;
  readonly #onEvent: AuditListener | undefined;
  readonly #follower: KeyringFollower;
  readonly #close: () => void;
  readonly #schedule = new Schedule();
  readonly #writes = new SerialQueue();
  /**
   * The key the file holds, as this mirror wrote it: the schedule's own object (the schedule keeps
   * one object per key, so identity is equality), and only its id is read once it has left.
   */
  #written: TotpKey | undefined;
  /** When each key that arrived after the first write arrived (ms since the Unix epoch). */
  readonly #arrived = new WeakMap<TotpKey, number>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: EtcdKeyMirrorOptions) {
    this.path = keyPath(options.path);
    this.fileMode = fileMode(options.fileMode);
    if (options.format !== undefined) keyFileFormat(options.format, { algorithm: 'SHA1', digits: 6, period: 30, epoch: 0 });
    this.#format = options.format;
    this.#onEvent = listener(options.onEvent);
    const checkEvery = milliseconds(options.checkEvery, 'checkEvery', DEFAULT_CHECK_MS);
    const { client, prefix } = connect(options);
    this.#close = () => client.close();
    this.#ringKey = `${prefix}ring`;
    this.#follower = new KeyringFollower(client, prefix, Math.max(checkEvery, 50), {
      onChange: (key, kv) => this.#onChange(key, kv),
      onAlarm: (error) => this.#report(`etcd gives this mirror no quorum (${error.message}): ${this.path} keeps the key it holds until etcd answers`),
      onRecover: (how) => emitEvent(this.#onEvent, { type: 'load', message: how }),
    });
  }

  /**
   * Connects, reads the keyring and writes its active key to `path`. Rejects with
   * ERR_OTP_OPTIONS for bad options, ERR_OTP_KEY_IO when etcd did not answer or no keyring
   * appeared within `wait` ms or the file cannot be written, ERR_OTP_KEY_FOREIGN when `path`
   * holds something that is not a key file.
   */
  static async start(options: EtcdKeyMirrorOptions): Promise<EtcdKeyMirror> {
    optionsObject(options, 'EtcdKeyMirror', OPTION_NAMES, true);
    const wait = milliseconds(options.wait, 'wait', DEFAULT_WAIT_MS);
    const mirror = new EtcdKeyMirror(options);
    const deadline = performance.now() + wait;
    try {
      await mirror.#follower.start(wait);
      while (mirror.#schedule.size === 0) {
        if (performance.now() > deadline) throw new EtcdError(`no keyring appeared under ${mirror.#ringKey} within ${wait} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // The first write's failure fails start(): a mirror that cannot write is misconfigured.
      await mirror.#writes.run(() => mirror.#sync(true));
    } catch (error) {
      mirror.close();
      throw error;
    }
    return mirror;
  }

  /** The fingerprint of the key the file holds, as this mirror last wrote it. */
  get keyId(): string | undefined {
    return this.#written?.id;
  }

  /** Stops following etcd and wipes the keys it holds. The key file stays: thin clients keep working. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#follower.close();
    this.#close();
    this.#schedule.wipe();
    this.#written = undefined;
  }

  #report(message: string, reason?: AuditEvent['reason']): void {
    const event: Omit<AuditEvent, 'at'> = { type: 'error', message };
    if (reason !== undefined) event.reason = reason;
    if (this.#written !== undefined) event.keyId = this.#written.id;
    emitEvent(this.#onEvent, event);
  }

  #onChange(key: string, kv: KeyValue | undefined): void {
    if (key !== this.#ringKey || kv === undefined || this.#closed) {
      kv?.value.fill(0);
      if (key === this.#ringKey && kv === undefined) this.#report(`the keyring ${this.#ringKey} was deleted from etcd: ${this.path} keeps the key it holds`);
      return;
    }
    try {
      const ring = decodeRing(kv.value, this.#ringKey);
      const activation = new Map(ring.keys.map(({ key: k, activeAt }) => [k.id, activeAt]));
      const now = Date.now();
      for (const added of this.#schedule.replace(ring, now)) {
        if (this.#written !== undefined) this.#arrived.set(added, now);
        emitEvent(this.#onEvent, { type: 'load', keyId: added.id, message: `the keyring holds key ${added.id}, active from ${new Date(activation.get(added.id) ?? 0).toISOString()}` });
      }
    } catch (error) {
      this.#report(`${(error as Error).message}; ${this.path} keeps the key it holds`, 'malformed');
      return;
    } finally {
      kv.value.fill(0);
    }
    this.#schedule.prune(Date.now());
    // Once started; start() makes the first write itself.
    if (this.#written !== undefined) void this.#writes.run(() => this.#sync(false)).catch(() => undefined);
  }

  /** When a key may be written: at its activation, and SETTLE_MS after it arrived if it arrived late. */
  #writeAt(entry: { key: TotpKey; activeAt: number }): number {
    return Math.max(entry.activeAt, (this.#arrived.get(entry.key) ?? -Infinity) + SETTLE_MS);
  }

  /**
   * Writes the key due now if the file does not hold it yet, then waits for the next one's
   * time. `first`: a failure rejects (start); later ones are reported and retried.
   */
  async #sync(first: boolean): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    const now = Date.now();
    const due = this.#schedule.entries().filter((entry) => this.#writeAt(entry) <= now);
    const active = due[due.length - 1] ?? (this.#written === undefined ? this.#schedule.activeAt(now) : undefined);
    if (active === undefined) return this.#waitForNext(now);
    if (this.#written !== active.key) {
      try {
        const key = active.key;
        const format = keyFileFormat(this.#format, { algorithm: key.algorithm, digits: key.digits as 6 | 7 | 8, period: key.period, epoch: key.epoch });
        await writeKeyFile(this.path, key, { format, mode: this.fileMode });
        if (this.#closed) return;
        this.#written = key;
        emitEvent(this.#onEvent, { type: 'rotate', keyId: key.id, message: `wrote key ${key.id} (active from ${new Date(active.activeAt).toISOString()}) to ${this.path}` });
      } catch (error) {
        if (first || this.#closed) throw error;
        this.#report(`${(error as Error).message}; the mirror tries again in ${RETRY_MS} ms`);
        this.#timer = later(() => void this.#writes.run(() => this.#sync(false)).catch(() => undefined), RETRY_MS);
        return;
      }
    }
    this.#waitForNext(now);
  }

  #waitForNext(now: number): void {
    const next = Math.min(...this.#schedule.entries().map((entry) => this.#writeAt(entry)).filter((at) => at > now));
    if (Number.isFinite(next)) this.#timer = later(() => void this.#writes.run(() => this.#sync(false)).catch(() => undefined), next - Date.now());
  }
}
