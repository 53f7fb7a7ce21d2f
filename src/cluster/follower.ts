// Following the keys under the keyring's prefix (the ring, the rotator's election key): a list,
// then a watch from the revision after it, and a quorum read of the key names every `checkEvery` ms.
//
// The watch brings each change in milliseconds. The quorum read is what makes the copy
// trustworthy: a watch on a member that has lost its peers (a minority partition) or that has
// stopped answering stays open and silent, so only a linearizable read, which etcd answers only
// with a quorum behind it, tells a follower that it is still in step. It asks for names and
// revisions only (keys_only), so the secrets cross the network when they change, not every second.
// When that read fails on every endpoint twice in a row, the follower raises the alarm and keeps
// what it holds. When it answers again, or shows a revision the watch has not brought, the watch
// resumes from the last revision seen; a watch that resumes after history it needs has been
// compacted is told so by etcd, and the follower lists everything again: each key is one whole
// value, so nothing is missed.
import type { OtpError } from '../errors.js';
import { later } from '../handshake/timer.js';
import { type EtcdClient, EtcdError, type KeyValue, prefixEnd, type Watch } from './etcd.js';

export interface FollowerHandlers {
  /** `key` (a full etcd key under the prefix) now holds `kv`, or was deleted (undefined). */
  onChange(key: string, kv: KeyValue | undefined, revision: number): void;
  /** The follower lost quorum reads on every endpoint: `error` is the last failure. */
  onAlarm(error: OtpError): void;
  /** Quorum reads answer again. `how` says what was done to catch up. */
  onRecover(how: string): void;
}

// Consecutive failed quorum reads (each over every endpoint) before the alarm: one failure can be
// an etcd leader election, which takes a second or two.
const FAILED_CHECKS_FOR_ALARM = 2;

export class KeyringFollower {
  readonly #client: EtcdClient;
  readonly #prefix: string;
  readonly #end: string;
  readonly #checkEvery: number;
  readonly #handlers: FollowerHandlers;
  /** The mod revision of each key known under the prefix (deleted keys keep their delete revision). */
  readonly #known = new Map<string, { modRevision: number; present: boolean }>();
  #revision = 0;
  #watch: Watch | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #checking = false;
  #failedChecks = 0;
  #alarmed = false;
  #lastError: OtpError | undefined;
  #closed = false;

  constructor(client: EtcdClient, prefix: string, checkEvery: number, handlers: FollowerHandlers) {
    this.#client = client;
    this.#prefix = prefix;
    this.#end = prefixEnd(prefix);
    this.#checkEvery = checkEvery;
    this.#handlers = handlers;
  }

  /** The store revision the follower has caught up with. */
  get revision(): number {
    return this.#revision;
  }

  /** Whether quorum reads fail on every endpoint (the alarm is raised). */
  get cutOff(): boolean {
    return this.#alarmed;
  }

  /**
   * Lists the prefix, retrying until `wait` ms have passed, then follows it. Rejects with the
   * last error (ERR_OTP_KEY_IO, naming the endpoints and what they said) if etcd never answered,
   * and at once if etcd refused (a wrong password, no permission on the prefix).
   */
  async start(wait: number): Promise<void> {
    const deadline = performance.now() + wait;
    for (;;) {
      try {
        await this.#list();
        break;
      } catch (error) {
        // A refusal (a wrong password, a user without access) is final; an endpoint that does not answer may yet.
        if (this.#closed || !(error instanceof EtcdError) || !error.tryElsewhere) throw error;
        const left = deadline - performance.now();
        if (left <= 0) throw new EtcdError(`no etcd endpoint (${this.#client.endpoints.map((url) => url.origin).join(', ')}) answered a quorum read within ${wait} ms; the last: ${(error as Error).message}`, undefined, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(250, left)));
      }
    }
    this.#startWatch();
    this.#scheduleCheck();
  }

  /** Reads the prefix with quorum now and applies it; rejects as the read does. */
  async refresh(): Promise<void> {
    await this.#list();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#checkTimer);
    this.#watch?.close();
    this.#watch = undefined;
  }

  async #list(): Promise<void> {
    const { kvs, revision } = await this.#client.range(this.#prefix, this.#end);
    if (this.#closed) return;
    const present = new Set(kvs.map((kv) => kv.key));
    for (const [key, known] of this.#known) {
      if (known.present && !present.has(key) && known.modRevision < revision) this.#apply(key, undefined, revision, revision);
    }
    for (const kv of kvs) this.#apply(kv.key, kv, kv.modRevision, revision);
    this.#revision = Math.max(this.#revision, revision);
  }

  #apply(key: string, kv: KeyValue | undefined, modRevision: number, revision: number): void {
    const known = this.#known.get(key);
    if (known !== undefined && known.modRevision >= modRevision) {
      kv?.value.fill(0);
      return;
    }
    this.#known.set(key, { modRevision, present: kv !== undefined });
    this.#handlers.onChange(key, kv, revision);
  }

  #startWatch(): void {
    if (this.#closed) return;
    this.#watch?.close();
    const watch = this.#client.watch(this.#prefix, this.#end, this.#revision + 1, {
      onEvents: (events, revision) => {
        if (this.#watch !== watch) return;
        for (const { type, kv } of events) this.#apply(kv.key, type === 'put' ? kv : undefined, kv.modRevision, revision);
        this.#revision = Math.max(this.#revision, revision);
      },
      onEnd: ({ compactRevision }) => {
        if (this.#watch !== watch) return;
        this.#watch = undefined;
        // History the watch needed is gone: list everything again, then watch from there.
        if (compactRevision !== undefined) void this.#relist(compactRevision);
        // Any other end waits for the next check, which restarts the watch where etcd answers.
      },
    });
    this.#watch = watch;
  }

  async #relist(compactRevision: number): Promise<void> {
    try {
      await this.#list();
      this.#handlers.onRecover(`re-read the keyring at revision ${this.#revision}: the history from revision ${compactRevision} back was compacted`);
      this.#startWatch();
    } catch {
      // The next check retries.
    }
  }

  #scheduleCheck(): void {
    if (this.#closed) return;
    this.#checkTimer = later(() => void this.#check(), this.#checkEvery);
  }

  async #check(): Promise<void> {
    if (this.#checking || this.#closed) return;
    this.#checking = true;
    try {
      const { kvs } = await this.#client.range(this.#prefix, this.#end, { keysOnly: true });
      if (this.#closed) return;
      this.#failedChecks = 0;
      if (this.#alarmed) {
        this.#alarmed = false;
        this.#handlers.onRecover(`etcd answers quorum reads again at ${this.#client.endpoint.origin}: following the keyring from revision ${this.#revision}`);
      }
      const names = new Set(kvs.map((kv) => kv.key));
      const behind =
        kvs.some((kv) => (this.#known.get(kv.key)?.modRevision ?? 0) < kv.modRevision) ||
        [...this.#known].some(([key, known]) => known.present && !names.has(key));
      // A watch that ended, that streams from an endpoint the client has moved away from, or that
      // has not brought a change a quorum already holds (events it did bring are not applied twice).
      if (this.#watch === undefined || this.#watch.endpoint !== this.#client.endpoint || behind) this.#startWatch();
    } catch (error) {
      if (this.#closed) return;
      this.#lastError = error as OtpError;
      // The watch's member did not answer either: its stream is no longer to be trusted.
      this.#watch?.close();
      this.#watch = undefined;
      if (++this.#failedChecks >= FAILED_CHECKS_FOR_ALARM && !this.#alarmed) {
        this.#alarmed = true;
        this.#handlers.onAlarm(this.#lastError);
      }
    } finally {
      this.#checking = false;
      this.#scheduleCheck();
    }
  }
}
