// Noticing that the key file changed, without holding on to the file itself.
//
// A watch on the file's inode dies when the file is replaced by rename, which is exactly how keys
// are rotated, and the Kubernetes secret-volume pattern never touches the file at all (the path
// is a symlink through `..data`, and `..data` is re-pointed). So the directory is watched and the
// path is stat'ed again; a change is reported when the version found (device, inode, size, mtime,
// ctime) differs from the last one reported. Events are coalesced, and a periodic stat backs
// fs.watch up because it can miss events (network and some overlay filesystems). When watching is
// unavailable or fails, or the directory is gone, the stat runs at the faster poll interval, and
// the watch is re-armed on the directory as soon as it is back.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';

import { ABSENT, isAbsent, type PathVersion, versionOf, versionOfFailure } from '../internal/fs.js';
import { later } from './timer.js';

export interface WatchOptions {
  /** Stat interval while fs.watch is not running (ms). Default 1000. */
  pollInterval?: number;
  /** Stat interval while fs.watch runs, for the events it misses (ms). Default 2000. */
  safetyInterval?: number;
  /** fs.watch, or a stand-in (tests use one that fails). Default fs.watch. */
  watch?: typeof fs.watch;
}

const DEBOUNCE_MS = 20;
// After fs.watch failed, polling carries on and the watch is tried again this much later (a
// watch that errors at once must not turn into a loop).
const WATCH_RETRY_MS = 10_000;
// Kubernetes re-points `..data` with a rename, but a link can point at nothing for a moment
// (e.g. while a volume is being populated): look again a few times before reporting it missing.
const DANGLING_RETRY_MS = 50;
const DANGLING_RETRIES = 20;

/** A symbolic link at the path that points at nothing. */
const DANGLING = 'dangling';

/** The version at the path (following links): a file's version, ABSENT, DANGLING or an error's. */
async function versionAt(file: string): Promise<PathVersion> {
  try {
    return versionOf(await fsp.stat(file));
  } catch (error) {
    if (!isAbsent(error)) return versionOfFailure(error);
    const link = await fsp.lstat(file).catch(() => undefined);
    return link?.isSymbolicLink() ? DANGLING : ABSENT;
  }
}

export class KeyFileWatcher {
  readonly #file: string;
  readonly #dir: string;
  readonly #onChange: () => Promise<void>;
  readonly #pollInterval: number;
  readonly #safetyInterval: number;
  readonly #watch: typeof fs.watch;
  #watcher: fs.FSWatcher | undefined;
  /** The directory the watcher is on (dev:ino): a directory deleted and recreated is a new one. */
  #watchedDir: string | undefined;
  #watchRetryAt = 0;
  #reported: PathVersion | undefined;
  #dangling = 0;
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  #checking: Promise<void> | undefined;
  #again = false;
  #closed = false;

  /**
   * Calls `onChange` (and waits for it before looking again) whenever the file at `file` may be
   * a different version from the last one reported; the first look always reports. Timers and
   * the watch are unref'd: they never keep a process alive.
   */
  constructor(file: string, onChange: () => Promise<void>, options: WatchOptions = {}) {
    this.#file = file;
    this.#dir = path.dirname(file);
    this.#onChange = onChange;
    this.#pollInterval = options.pollInterval ?? 1000;
    this.#safetyInterval = options.safetyInterval ?? 2000;
    this.#watch = options.watch ?? fs.watch;
    this.#schedule(0);
  }

  /** Whether fs.watch is running now (false: polling). */
  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#unwatch();
  }

  /** Looks again in `delay` ms, unless a look is already due sooner. */
  #schedule(delay: number): void {
    const now = Date.now();
    // Only a timer still pending makes a new one unnecessary. A fired timer must not count, even
    // if its due time has not come by the wall clock: timers run on the event loop's clock, which
    // can be a few ms behind Date.now() on a busy process, or the wall clock may have been set
    // back. Counting it would leave no timer at all, and polling would stop for good.
    if (this.#closed || (this.#timer !== undefined && this.#due > now && this.#due <= now + delay)) return;
    clearTimeout(this.#timer);
    this.#due = now + delay;
    this.#timer = later(() => {
      this.#timer = undefined;
      void this.#check();
    }, delay);
  }

  #check(): Promise<void> {
    // One look at a time; events during a look earn one more look after it.
    if (this.#checking !== undefined) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = this.#look().finally(() => {
      this.#checking = undefined;
      if (!this.#again) return;
      this.#again = false;
      this.#schedule(DEBOUNCE_MS);
    });
    return this.#checking;
  }

  async #look(): Promise<void> {
    await this.#rearm();
    const version = await versionAt(this.#file);
    if (this.#closed) return;
    if (version === DANGLING && this.#dangling < DANGLING_RETRIES) {
      this.#dangling++;
      return this.#schedule(DANGLING_RETRY_MS);
    }
    this.#dangling = 0;
    if (version !== this.#reported) {
      this.#reported = version;
      await this.#onChange().catch((error: unknown) => {
        process.emitWarning(`totp-handshake: reloading the key file failed: ${(error as Error)?.message ?? String(error)}`);
      });
    }
    this.#schedule(this.#watcher === undefined ? this.#pollInterval : this.#safetyInterval);
  }

  /** Keeps the watch on the directory that is at the path now, or none when it is gone. */
  async #rearm(): Promise<void> {
    const dir = await fsp.stat(this.#dir).then(
      (stats) => `${stats.dev}:${stats.ino}`,
      () => undefined,
    );
    if (this.#closed || (this.#watcher !== undefined && dir === this.#watchedDir)) return;
    this.#unwatch();
    if (dir === undefined || Date.now() < this.#watchRetryAt) return;
    try {
      const watcher = this.#watch(this.#dir, { persistent: false }, () => this.#schedule(DEBOUNCE_MS));
      watcher.on('error', () => {
        if (this.#watcher === watcher) this.#unwatch();
        this.#watchFailed();
      });
      this.#watcher = watcher;
      this.#watchedDir = dir;
    } catch {
      // fs.watch unavailable (ENOSYS, EMFILE, ENOSPC: inotify watches exhausted).
      this.#watchFailed();
    }
  }

  /** Polling takes over, at once for what the failed watch may have missed. */
  #watchFailed(): void {
    this.#watchRetryAt = Date.now() + WATCH_RETRY_MS;
    this.#schedule(0);
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#watchedDir = undefined;
  }
}
