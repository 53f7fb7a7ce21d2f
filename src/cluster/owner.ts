// EtcdKeyOwner: the API side of the handshake across hosts. The keyring lives in etcd; every
// owner follows it and verifies locally; one owner, elected with a lease, rotates it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import { closedError } from '../errors.js';
import { type AuditEvent, type AuditListener, emitEvent } from '../events.js';
import { later } from '../handshake/timer.js';
import { graceOption, listener, rotateEveryOption } from '../handshake/validate.js';
import { fail, milliseconds, optionsObject } from '../internal/options.js';
import { SerialQueue } from '../internal/serial.js';
import { TotpKey } from '../key.js';
import {
  DEFAULT_WINDOW,
  type ResolvedTotpOptions,
  resolveTotpOptions,
  resolveVerifyOptionsInto,
  type TotpOptions,
  type VerifyOptions,
} from '../options.js';
import { type CheckResult, type KeyTiming, type OtpVerifier, refusalOfNonCode } from '../verifier.js';
import { type EtcdClient, EtcdError, type KeyValue } from './etcd.js';
import { KeyringFollower } from './follower.js';
import { decodeRing, encodeRing, MAX_RING_KEYS, type Ring, type RingKey, Schedule } from './keyring.js';
import { CONNECTION_OPTION_NAMES, connect, type EtcdConnectionOptions } from './options.js';

export interface EtcdKeyOwnerOptions extends EtcdConnectionOptions {
  /**
   * The elected owner publishes a new key every this many ms, counted from the current key's
   * activation, so that a new rotator keeps the schedule. At least one TOTP period, and more than
   * `activationDelay`. 0 or undefined: no scheduled rotation (`rotate()` on the rotator still works).
   */
  rotateEvery?: number;
  /** How long (ms) a replaced key stays valid after the next one's activation: 0, or at least 1000. Default two TOTP periods. */
  grace?: number;
  /**
   * How far ahead (ms) of its activation a new key is published: every owner and mirror receives
   * it within this time, and thin clients switch to it only at its activation, when the mirrors
   * write it. Default 10 s, or half of rotateEvery when that is shorter; at least 100 ms.
   */
  activationDelay?: number;
  /**
   * The TTL of the lease the rotator holds its election with (ms, whole seconds, at least 2000).
   * A rotator that dies is replaced within about this long. Default 10000.
   */
  leaseTtl?: number;
  /** How often (ms) a quorum read checks that this owner is in step with etcd. Default 1000. */
  checkEvery?: number;
  /** How long start() waits for etcd to answer and for a keyring to exist (ms). Default 10000. */
  wait?: number;
  /** This owner's name in the keyring and in events. Default `<hostname>:<pid>`. */
  member?: string;
  /** Parameters of the keys this owner creates when it rotates. Default SHA1, 6 digits, 30 s. */
  totp?: TotpOptions;
  /** Receives `load` (a key arrived), `rotate` (this owner published one) and `error` events (see KeyOwnerOptions.onEvent). */
  onEvent?: AuditListener;
}

const OPTION_NAMES: readonly (keyof EtcdKeyOwnerOptions)[] = [
  ...CONNECTION_OPTION_NAMES,
  'rotateEvery',
  'grace',
  'activationDelay',
  'leaseTtl',
  'checkEvery',
  'wait',
  'member',
  'totp',
  'onEvent',
];
const NO_KEY: CheckResult = Object.freeze({ ok: false, reason: 'no-key' });
const DEFAULT_ACTIVATION_DELAY_MS = 10_000;
const MIN_ACTIVATION_DELAY_MS = 100;
const DEFAULT_LEASE_TTL_MS = 10_000;
// etcd refuses shorter leases than its election timeout allows; 2 s is safe with its defaults.
const MIN_LEASE_TTL_MS = 2000;
const DEFAULT_CHECK_MS = 1000;
const DEFAULT_WAIT_MS = 10_000;
// A scheduled rotation that failed (no quorum, a keyring it cannot read) is tried again after
// this, doubled at each failure in a row up to MAX_RETRY_MS.
const RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

interface Settings {
  totp: ResolvedTotpOptions;
  rotateEvery: number;
  grace: number;
  activationDelay: number;
  leaseTtl: number;
  checkEvery: number;
  member: string;
}

function settings(options: EtcdKeyOwnerOptions): Settings {
  const totp = resolveTotpOptions(options.totp);
  if (totp.epoch !== 0) fail('totp.epoch cannot be shared through the keyring: an otpauth URI does not carry it');
  const periodMs = totp.period * 1000;
  const rotateEvery = rotateEveryOption(options.rotateEvery, periodMs);
  const grace = graceOption(options.grace, periodMs);
  const fallbackDelay = rotateEvery === 0 ? DEFAULT_ACTIVATION_DELAY_MS : Math.min(DEFAULT_ACTIVATION_DELAY_MS, Math.floor(rotateEvery / 2));
  const activationDelay = milliseconds(options.activationDelay, 'activationDelay', fallbackDelay);
  if (activationDelay < MIN_ACTIVATION_DELAY_MS) fail(`activationDelay is in milliseconds: at least ${MIN_ACTIVATION_DELAY_MS}`);
  if (rotateEvery !== 0 && activationDelay >= rotateEvery) fail('activationDelay must be shorter than rotateEvery: a key is published before the one before it is due');
  const leaseTtl = milliseconds(options.leaseTtl, 'leaseTtl', DEFAULT_LEASE_TTL_MS);
  if (leaseTtl < MIN_LEASE_TTL_MS || leaseTtl % 1000 !== 0) fail(`leaseTtl must be whole seconds in milliseconds, at least ${MIN_LEASE_TTL_MS}`);
  const checkEvery = milliseconds(options.checkEvery, 'checkEvery', DEFAULT_CHECK_MS);
  if (checkEvery < 50) fail('checkEvery is in milliseconds: at least 50');
  const member = options.member ?? `${hostname()}:${process.pid}`;
  if (typeof member !== 'string' || member.length === 0 || member.length > 128 || /[\0-\x1f]/.test(member)) fail('member must be a printable string of 1 to 128 characters');
  return { totp, rotateEvery, grace, activationDelay, leaseTtl, checkEvery, member };
}

/**
 * The API side across hosts: follows the keyring in etcd and verifies codes against it locally;
 * the one owner elected rotator publishes new keys ahead of their activation.
 *
 * It has the surface of `KeyOwner` (`check`, `verify`, `timing`, `keyId`, `rotate`, `close`,
 * events through `onEvent`), so every HTTP guard takes it unchanged. Nothing crosses the network
 * on the request path: a check reads keys in memory only.
 *
 * @example
 * ```ts
 * const owner = await EtcdKeyOwner.start({
 *   endpoints: ['https://etcd-0:2379', 'https://etcd-1:2379', 'https://etcd-2:2379'],
 *   name: 'billing-api',
 *   auth: { username: 'totp-owner', password: process.env.ETCD_PASSWORD! },
 *   tls: { ca: readFileSync('/etc/etcd/ca.pem') },
 *   rotateEvery: 3_600_000,
 * });
 * app.use('/internal', verifyOtp({ owner }));
 * ```
 */
export class EtcdKeyOwner implements OtpVerifier {
  /** The keyring's name. */
  readonly name: string;
  /** This owner's name in the keyring and in events. */
  readonly member: string;
  readonly #settings: Settings;
  readonly #client: EtcdClient;
  readonly #ringKey: string;
  readonly #leaderKey: string;
  readonly #instance = randomBytes(8).toString('hex');
  readonly #onEvent: AuditListener | undefined;
  readonly #follower: KeyringFollower;
  readonly #schedule = new Schedule();
  readonly #work = new SerialQueue();
  /** The ring's mod revision in etcd as this owner last saw it (0: there is none). */
  #ringRevision = 0;
  /** The elected owner as the election key says, and the key's create revision. */
  #leader: { member: string; instance: string; createRevision: number } | undefined;
  #lease: string | undefined;
  #leaseAliveAt = 0;
  #keepAliveTimer: NodeJS.Timeout | undefined;
  #rotationTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #failedRotations = 0;
  #closing: Promise<void> | undefined;
  readonly #verifyOptions = { window: DEFAULT_WINDOW, timeMs: 0 };

  private constructor(options: EtcdKeyOwnerOptions) {
    this.#settings = settings(options);
    this.member = this.#settings.member;
    this.#onEvent = listener(options.onEvent);
    const { client, prefix } = connect(options);
    this.name = options.name;
    this.#client = client;
    this.#ringKey = `${prefix}ring`;
    this.#leaderKey = `${prefix}leader`;
    this.#follower = new KeyringFollower(client, prefix, this.#settings.checkEvery, {
      onChange: (key, kv) => this.#onChange(key, kv),
      onAlarm: (error) =>
        this.#report(
          `etcd gives this owner no quorum (${error.message}): it keeps verifying with the keyring of revision ${this.#ringRevision} (keys held: ${this.#schedule.size}), and no rotation happens from here until etcd answers`,
        ),
      onRecover: (how) => emitEvent(this.#onEvent, this.#withKeyId({ type: 'load', message: how })),
    });
  }

  /**
   * Connects, reads the keyring and joins the election; resolves once this owner holds a
   * keyring (the first owner of a new keyring, once elected, creates it). Rejects with
   * ERR_OTP_OPTIONS for bad options and ERR_OTP_KEY_IO when etcd did not answer, or no keyring
   * appeared, within `wait` ms (default 10 s), or the etcd user may not use the keyring.
   */
  static async start(options: EtcdKeyOwnerOptions): Promise<EtcdKeyOwner> {
    optionsObject(options, 'EtcdKeyOwner', OPTION_NAMES, true);
    const wait = milliseconds(options.wait, 'wait', DEFAULT_WAIT_MS);
    const owner = new EtcdKeyOwner(options);
    const deadline = performance.now() + wait;
    try {
      await owner.#follower.start(wait);
      owner.#lease = await owner.#client.grant(owner.#settings.leaseTtl / 1000);
      owner.#leaseAliveAt = performance.now();
      owner.#scheduleKeepAlive();
      // A refusal (a user without write access) fails the start; an endpoint that did not answer
      // only delays the campaign to the next lease renewal.
      await owner.#work.run(() => owner.#campaign()).catch((error: unknown) => {
        if (!(error instanceof EtcdError) || !error.tryElsewhere) throw error;
      });
      while (owner.#schedule.size === 0) {
        if (performance.now() > deadline) throw new EtcdError(`no keyring appeared under /totp-handshake/${owner.name}/ within ${wait} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } catch (error) {
      await owner.close();
      throw error;
    }
    return owner;
  }

  /** The active key's fingerprint (undefined once closed). */
  get keyId(): string | undefined {
    return this.#schedule.activeAt(Date.now())?.key.id;
  }

  /** Whether this owner is the elected rotator now. */
  get isRotator(): boolean {
    return this.#leader?.instance === this.#instance;
  }

  timing(): KeyTiming | undefined {
    return this.#schedule.activeAt(Date.now())?.timing;
  }

  verify(code: unknown, options?: VerifyOptions): boolean {
    return this.check(code, options).ok;
  }

  /**
   * Checks any value as a code against the keys of the keyring accepted now: the active key,
   * the next one once published, and the replaced ones within grace. Results as KeyOwner.check.
   */
  check(code: unknown, options?: VerifyOptions): CheckResult {
    const verifyOptions = this.#verifyOptions;
    resolveVerifyOptionsInto(verifyOptions, options);
    const active = this.#schedule.activeAt(verifyOptions.timeMs);
    if (active === undefined) return NO_KEY;
    return refusalOfNonCode(code, active.key) ?? this.#schedule.match(code as string, verifyOptions) ?? { ok: false, reason: 'invalid', keyId: active.key.id };
  }

  /**
   * Publishes a new key now, active `activationDelay` from now (or that long after a key still
   * pending). Only the elected rotator rotates: on any other owner this rejects with
   * ERR_OTP_KEY_IO naming the rotator, as it does when etcd refuses the transaction (this owner
   * was deposed meanwhile, or etcd has no quorum). Rejects with ERR_OTP_DESTROYED once closed.
   */
  rotate(reason = 'rotate() was called'): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError('this EtcdKeyOwner'));
    return this.#work.run(() => this.#publish(reason, false));
  }

  /**
   * Leaves the election (revoking the lease, so another owner takes over at once), stops
   * following etcd and wipes the keys: from then on every check is `no-key`. Never rejects.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    clearTimeout(this.#keepAliveTimer);
    clearTimeout(this.#rotationTimer);
    clearTimeout(this.#pruneTimer);
    this.#follower.close();
    this.#schedule.wipe();
    this.#closing = this.#work.idle().then(async () => {
      const lease = this.#lease;
      this.#lease = undefined;
      if (lease !== undefined) await this.#client.revoke(lease).catch(() => undefined);
      this.#client.close();
    });
    return this.#closing;
  }

  #withKeyId(event: Omit<AuditEvent, 'at'>): Omit<AuditEvent, 'at'> {
    const keyId = this.keyId;
    return keyId === undefined ? event : { ...event, keyId };
  }

  #report(message: string, reason?: AuditEvent['reason']): void {
    const event: Omit<AuditEvent, 'at'> = { type: 'error', message };
    if (reason !== undefined) event.reason = reason;
    emitEvent(this.#onEvent, this.#withKeyId(event));
  }

  #onChange(key: string, kv: KeyValue | undefined): void {
    if (this.#closing !== undefined) {
      kv?.value.fill(0);
      return;
    }
    if (key === this.#ringKey) this.#onRing(kv);
    else if (key === this.#leaderKey) this.#onLeader(kv);
    else kv?.value.fill(0);
  }

  #onRing(kv: KeyValue | undefined): void {
    if (kv === undefined) {
      this.#ringRevision = 0;
      this.#report(`the keyring /totp-handshake/${this.name}/ring was deleted from etcd: this owner keeps verifying with the keys it holds`);
      if (this.isRotator) void this.#work.run(() => this.#createRing()).catch(() => undefined);
      return;
    }
    let ring: Ring;
    try {
      ring = decodeRing(kv.value, `/totp-handshake/${this.name}/ring`);
    } catch (error) {
      return this.#report(`${(error as Error).message}; this owner keeps the keys it holds`, 'malformed');
    } finally {
      kv.value.fill(0);
    }
    this.#install(ring, kv.modRevision);
  }

  #install(ring: Ring, revision: number): void {
    if (revision < this.#ringRevision) {
      for (const { key } of ring.keys) key.destroy();
      return;
    }
    this.#ringRevision = revision;
    const activation = new Map(ring.keys.map(({ key, activeAt }) => [key.id, activeAt]));
    for (const key of this.#schedule.replace(ring)) {
      emitEvent(this.#onEvent, { type: 'load', keyId: key.id, message: `the keyring holds key ${key.id}, active from ${iso(activation.get(key.id) ?? 0)} (published by ${ring.by})` });
    }
    this.#schedulePrune();
    this.#scheduleRotation();
  }

  #onLeader(kv: KeyValue | undefined): void {
    const wasRotator = this.isRotator;
    if (kv === undefined) {
      this.#leader = undefined;
    } else {
      try {
        const { member, instance } = JSON.parse(kv.value.toString('utf8')) as { member?: unknown; instance?: unknown };
        this.#leader = { member: String(member), instance: String(instance), createRevision: kv.createRevision };
      } catch {
        this.#leader = { member: 'an unknown writer', instance: '', createRevision: kv.createRevision };
      }
    }
    if (wasRotator && !this.isRotator) {
      clearTimeout(this.#rotationTimer);
      this.#report(`this owner is no longer the rotator (its election lease ended${this.#leader === undefined ? '' : `; ${this.#leader.member} rotates now`})`);
    }
    if (this.#leader === undefined) void this.#work.run(() => this.#campaign()).catch(() => undefined);
    else this.#scheduleRotation();
  }

  /** Stands for election: creates the election key, bound to this owner's lease, if no one holds it. */
  async #campaign(): Promise<void> {
    if (this.#closing !== undefined || this.#lease === undefined || this.#leader !== undefined || this.#follower.cutOff) return;
    const value = Buffer.from(JSON.stringify({ member: this.member, instance: this.#instance }), 'utf8');
    const result = await this.#client.txn(
      [{ key: this.#leaderKey, target: 'CREATE', createRevision: 0 }],
      [{ put: { key: this.#leaderKey, value, lease: this.#lease } }],
      [{ range: { key: this.#leaderKey } }],
    );
    if (result.succeeded) {
      this.#leader = { member: this.member, instance: this.#instance, createRevision: result.revision };
      if (this.#ringRevision === 0) await this.#createRing();
      this.#scheduleRotation();
    } else {
      // Someone else holds it; the watch brings the details, the range brings them now.
      const [held] = result.ranges[0] ?? [];
      if (held !== undefined) this.#onLeader(held);
    }
  }

  /** The compares that make a transaction fail for anyone but the rotator of this election. */
  #asRotator(): { key: string; target: 'CREATE'; createRevision: number } {
    return { key: this.#leaderKey, target: 'CREATE', createRevision: (this.#leader as { createRevision: number }).createRevision };
  }

  /** The first keyring (or one replacing a deleted one): the keys still held, else a new key active now. */
  async #createRing(): Promise<void> {
    if (!this.isRotator || this.#ringRevision !== 0) return;
    const now = Date.now();
    const held = this.#schedule.entries().filter((entry) => entry.until > now);
    const fresh = held.length === 0 ? TotpKey.random(this.#settings.totp) : undefined;
    const keys: RingKey[] = fresh === undefined ? held.map(({ key, activeAt }) => ({ key, activeAt })) : [{ key: fresh, activeAt: now }];
    try {
      await this.#commit(keys, [this.#asRotator(), { key: this.#ringKey, target: 'CREATE', createRevision: 0 }], fresh === undefined ? undefined : { key: fresh, reason: 'a new keyring' });
    } finally {
      fresh?.destroy();
    }
  }

  /**
   * Publishes a new key: the keys still within grace, plus a fresh one active at the later of
   * `activationDelay` from now and its due time. The transaction succeeds only if this owner
   * still holds the election key it created and the ring is the one it built on.
   */
  async #publish(reason: string, scheduled: boolean): Promise<void> {
    if (this.#closing !== undefined) throw closedError('this EtcdKeyOwner');
    if (!this.isRotator) {
      throw new EtcdError(`this owner (${this.member}) is not the keyring's rotator (${this.#leader === undefined ? 'none is elected' : `${this.#leader.member} is`}): only the elected owner rotates`);
    }
    // Without quorum the transaction cannot commit now, and might commit long after, once etcd heals.
    if (this.#follower.cutOff) throw new EtcdError(`etcd gives this owner (${this.member}) no quorum: no rotation from here until it answers`);
    const { activationDelay, rotateEvery, totp } = this.#settings;
    const now = Date.now();
    const held = this.#schedule.entries().filter((entry) => entry.until > now);
    const newest = held[held.length - 1];
    // A key asked for by hand still gives a pending one activationDelay of life before it replaces it.
    const spacing = scheduled ? rotateEvery : activationDelay;
    const activeAt = Math.max(now + activationDelay, newest === undefined ? 0 : newest.activeAt + spacing);
    if (held.length >= MAX_RING_KEYS) {
      throw new EtcdError(`the keyring holds ${held.length} keys still pending or within grace, its most: rotate less often than every grace / ${MAX_RING_KEYS - 1}`);
    }
    const fresh = TotpKey.random(totp);
    try {
      const keys = [...held.map(({ key, activeAt: at }) => ({ key, activeAt: at })), { key: fresh, activeAt }];
      await this.#commit(keys, [this.#asRotator(), { key: this.#ringKey, target: 'MOD', modRevision: this.#ringRevision }], { key: fresh, reason });
    } finally {
      fresh.destroy();
    }
  }

  async #commit(keys: RingKey[], compares: Parameters<EtcdClient['txn']>[0], published: { key: TotpKey; reason: string } | undefined): Promise<void> {
    const ring: Ring = { grace: this.#settings.grace, by: this.member, keys };
    const value = encodeRing(ring);
    let result;
    try {
      result = await this.#client.txn(compares, [{ put: { key: this.#ringKey, value } }]);
      // Installed at once, from what was sent: the watch brings the same revision moments later.
      if (result.succeeded) this.#install(decodeRing(value, `/totp-handshake/${this.name}/ring`), result.revision);
    } finally {
      value.fill(0);
    }
    if (!result.succeeded) {
      // Deposed, or the ring changed under this owner: catch up before anything else is tried.
      await this.#follower.refresh().catch(() => undefined);
      throw new EtcdError(`etcd refused the rotation: this owner (${this.member}) is no longer the rotator, or the keyring changed meanwhile`);
    }
    if (published !== undefined) {
      const activeAt = keys[keys.length - 1]?.activeAt ?? Date.now();
      emitEvent(this.#onEvent, { type: 'rotate', keyId: published.key.id, message: `published key ${published.key.id} to /totp-handshake/${this.name}/ring, active from ${iso(activeAt)} (${published.reason})` });
    }
  }

  #scheduleRotation(): void {
    clearTimeout(this.#rotationTimer);
    const newest = this.#schedule.newest;
    const { rotateEvery, activationDelay } = this.#settings;
    if (this.#closing !== undefined || rotateEvery === 0 || !this.isRotator || newest === undefined) return;
    // A little early, so that a timer firing late does not push the activation off the schedule.
    const dueAt = newest.activeAt + rotateEvery - activationDelay - Math.min(250, activationDelay / 10);
    this.#rotationTimer = later(() => this.#rotateOnSchedule(), dueAt - Date.now());
  }

  #rotateOnSchedule(): void {
    this.#work
      .run(() => this.#publish('scheduled rotation', true))
      .then(
        () => (this.#failedRotations = 0),
        (error: unknown) => {
          if (this.#closing !== undefined) return;
          const retry = Math.min(RETRY_MS * 2 ** this.#failedRotations++, MAX_RETRY_MS);
          if (this.isRotator) this.#report(`the scheduled rotation failed: ${(error as Error).message}; trying again in ${retry} ms`);
          clearTimeout(this.#rotationTimer);
          this.#rotationTimer = later(() => this.#rotateOnSchedule(), retry);
        },
      );
  }

  /** Frees the keys whose grace has ended, when it ends, even while etcd cannot be reached. */
  #schedulePrune(): void {
    clearTimeout(this.#pruneTimer);
    const next = Math.min(...this.#schedule.entries().map((entry) => entry.until));
    if (!Number.isFinite(next) || this.#closing !== undefined) return;
    this.#pruneTimer = later(() => {
      this.#schedule.prune(Date.now());
      this.#schedulePrune();
    }, next - Date.now() + 1);
  }

  #scheduleKeepAlive(): void {
    if (this.#closing !== undefined) return;
    this.#keepAliveTimer = later(() => void this.#keepAlive().finally(() => this.#scheduleKeepAlive()), this.#settings.leaseTtl / 3);
  }

  /**
   * Renews this owner's lease. A lease etcd reports expired is replaced by a new one; a rotator
   * that could not renew for a whole TTL takes itself for deposed (etcd has let the lease go).
   */
  async #keepAlive(): Promise<void> {
    try {
      if (this.#lease === undefined) this.#lease = await this.#client.grant(this.#settings.leaseTtl / 1000);
      else if ((await this.#client.keepAlive(this.#lease)) <= 0) this.#lease = await this.#client.grant(this.#settings.leaseTtl / 1000);
      this.#leaseAliveAt = performance.now();
      if (this.#leader === undefined) await this.#work.run(() => this.#campaign());
    } catch {
      if (this.isRotator && performance.now() - this.#leaseAliveAt > this.#settings.leaseTtl) {
        this.#leader = undefined;
        clearTimeout(this.#rotationTimer);
        this.#report(`this owner could not renew its election lease for ${this.#settings.leaseTtl} ms: it no longer rotates`);
      }
    }
  }
}
