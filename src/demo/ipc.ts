// How the demo's parent talks to its two children: requests answered over the IPC channel, and
// notices a child sends on its own. Nothing sent here ever holds a secret or a valid code.
import type { ChildProcess } from 'node:child_process';

export interface Request {
  id: number;
  command: string;
}

export interface Reply {
  id: number;
  result?: Record<string, unknown>;
  error?: string;
}

export interface Notice {
  notice: string;
  [field: string]: unknown;
}

type Message = Reply | Notice;

interface Settle<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

/** Child side: answers the parent's requests with `handlers`. */
export function serve(handlers: Record<string, () => Promise<Record<string, unknown>>>): void {
  process.on('message', (message: Request) => {
    const handler = handlers[message.command];
    const work = handler === undefined ? Promise.reject(new Error(`unknown command ${message.command}`)) : handler();
    work.then(
      (result) => process.send?.({ id: message.id, result } satisfies Reply),
      (error: unknown) => process.send?.({ id: message.id, error: (error as Error)?.message ?? String(error) } satisfies Reply),
    );
  });
}

/** Child side: tells the parent something happened. */
export function notify(notice: Notice): void {
  process.send?.(notice);
}

/** Parent side: one child, its replies and notices. */
export class Peer {
  readonly #child: ChildProcess;
  readonly #name: string;
  readonly #pending = new Map<number, Settle<Record<string, unknown>>>();
  readonly #waiting = new Map<string, Settle<Notice>>();
  readonly #seen = new Map<string, Notice>();
  #next = 1;
  #exited: Error | undefined;

  constructor(child: ChildProcess, name: string) {
    this.#child = child;
    this.#name = name;
    child.on('message', (message: Message) => this.#receive(message));
    child.on('exit', (code, signal) => this.#fail(new Error(`the ${name} process exited early (${signal ?? `code ${code}`})`)));
    child.on('error', (error) => this.#fail(error));
  }

  request(command: string): Promise<Record<string, unknown>> {
    if (this.#exited !== undefined) return Promise.reject(this.#exited);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, command } satisfies Request);
    });
  }

  /** The first notice named `notice` (also one that came before this call). */
  notice(notice: string): Promise<Notice> {
    const seen = this.#seen.get(notice);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#exited !== undefined) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => this.#waiting.set(notice, { resolve, reject }));
  }

  /** Forgets the notices seen so far, to wait for the next one of a kind. */
  forget(notice: string): void {
    this.#seen.delete(notice);
  }

  #receive(message: Message): void {
    if ('notice' in message) {
      this.#seen.set(message.notice, message);
      this.#waiting.get(message.notice)?.resolve(message);
      this.#waiting.delete(message.notice);
      return;
    }
    const pending = this.#pending.get(message.id);
    this.#pending.delete(message.id);
    if (message.error !== undefined) pending?.reject(new Error(`the ${this.#name} process failed: ${message.error}`));
    else pending?.resolve(message.result ?? {});
  }

  #fail(error: Error): void {
    this.#exited ??= error;
    for (const { reject } of [...this.#pending.values(), ...this.#waiting.values()]) reject(this.#exited);
    this.#pending.clear();
    this.#waiting.clear();
  }
}
