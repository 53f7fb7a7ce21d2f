// Keys that are collected without destroy(): their engine state (the secret and the HMAC
// midstates) is wiped and freed from a FinalizationRegistry, for keys in batches.
//
// Why batches: FinalizationRegistry#register costs 0.3-1 us per call on Node 20 (measured here,
// more as registered cells accumulate), as much as creating a key without it, and a Node-API
// finalizer per key costs ~3 us. So keys share a registration: a batch holds the keys created in
// one synchronous run of JavaScript (closed at the next microtask checkpoint), at most
// BATCH_LIMIT of them. Every key refers to its batch's token; the token is registered when the
// batch closes, and only if one of its keys is still alive by then, so a key made, used and
// destroyed in one request costs no registration at all. Once every key of a batch has been
// collected (or destroyed), the token is collected too and the registry destroys the batch's
// handles: those of keys destroyed already are refused harmlessly by the engine (a stale handle
// names no key, src/engine/types.ts destroyKey).
//
// What this costs: a key dropped without destroy() keeps its engine state until its whole batch
// has been collected, which a long-lived key created in the same synchronous run can delay (at
// most BATCH_LIMIT - 1 others per long-lived key). destroy() wipes at once, as before; the
// library's own KeyOwner and KeyReader destroy every key they replace.
import type { Engine, KeyHandle } from './types.js';

const BATCH_LIMIT = 32;

/** What the registry holds for a batch: enough to destroy its keys, and nothing that refers back to the token. */
interface Batch {
  readonly engine: Engine;
  readonly handles: KeyHandle[];
}

/** What each key of a batch holds on to. */
export class LifetimeToken {
  /** Keys of the batch not destroyed yet. */
  live = 0;
  constructor(readonly batch: Batch) {}
}

const registry = new FinalizationRegistry<Batch>((batch) => {
  for (const handle of batch.handles) batch.engine.destroyKey(handle);
  batch.handles.length = 0;
});

let open: LifetimeToken | null = null;

/** Closes the open batch if it is `token`'s (a full batch is closed before its microtask runs). */
function close(token: LifetimeToken): void {
  if (open !== token) return;
  open = null;
  if (token.live > 0) registry.register(token, token.batch);
}

/**
 * Tracks a new key of `engine` until it is collected; the key keeps the returned token for as long
 * as it lives, and passes it to `untrack` when it is destroyed.
 */
export function track(engine: Engine, handle: KeyHandle): LifetimeToken {
  let token = open;
  if (token === null || token.batch.engine !== engine || token.batch.handles.length === BATCH_LIMIT) {
    if (token !== null) close(token);
    const opened = new LifetimeToken({ engine, handles: [] });
    open = token = opened;
    queueMicrotask(() => close(opened));
  }
  token.batch.handles.push(handle);
  token.live++;
  return token;
}

/** A key of the batch was destroyed: its state is gone, the registry need not wait for it. */
export function untrack(token: LifetimeToken): void {
  token.live--;
}
