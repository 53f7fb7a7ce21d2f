// One file operation at a time within a process: KeyOwner and KeyReader queue their reads and
// writes of the key file here, so that none of them ever reads a file it is writing itself, and
// the results apply in the order the operations were asked for.

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it, whether those succeeded or failed. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Settles once every task queued so far has. Never rejects. */
  idle(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}
