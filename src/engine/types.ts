// The contract both engines implement, and that src/key.ts relies on. The TypeScript layer has
// validated every argument before a call reaches an engine.

/** 0 = SHA-1, 1 = SHA-256, 2 = SHA-512: the native addon's numbering. */
export type AlgorithmId = 0 | 1 | 2;

/** Candidate slot i holds the step counter + SLOT_DELTAS[i]: 0, -1, +1, -2, +2, ... */
export const SLOT_DELTAS: readonly number[] = Object.freeze(
  Array.from({ length: 21 }, (_, i) => (i === 0 ? 0 : i % 2 === 1 ? -(i + 1) / 2 : i / 2)),
);

/** The candidate buffer's size: every slot of the widest window. */
export const CANDIDATE_SLOTS = SLOT_DELTAS.length;

/** Written in a slot whose step would come before step 0. */
export const NO_CODE = -1;

/** One key inside an engine. */
export interface EngineKey {
  /**
   * CANDIDATE_SLOTS codes written by findCode, slot i holding step counter + SLOT_DELTAS[i]. The
   * native engine owns this memory; JavaScript only reads it.
   */
  readonly candidates: Int32Array;
  /**
   * Looks for `code` among the steps counter-window .. counter+window in slot order, writing each
   * candidate's code into `candidates`. Returns the first matching slot, or -1
   * after writing all 2*window+1 slots; on a match at least slots 0..index are written.
   */
  findCode(counter: number, code: number, window: number): number;
  /** The code at one counter, as a number. */
  codeAt(counter: number): number;
  /** Forgets the key material now. Idempotent; later calls to the other two throw. */
  destroy(): void;
}

export interface Engine {
  readonly name: 'native' | 'js';
  createKey(algorithm: AlgorithmId, secret: Uint8Array, digits: number): EngineKey;
}
