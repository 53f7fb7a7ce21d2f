// The counters of one verification window, in the order an original checks them. One list per
// layer, refilled on each call, so a verify allocates nothing for its window.
import { servesCounter } from './otp.js';

/**
 * Past this many counters a layer checks its window one counter at a time, as the original does
 * (an absurd window then costs what it costs the original, without a list of that size).
 */
export const MAX_LISTED = 256;

export class CounterList {
  values = new Float64Array(16);
  /** A number the caller keeps beside each counter (the step it stands for, an offset). */
  tags = new Float64Array(16);
  count = 0;
  /** False once a counter outside what `search` serves was added. */
  servable = true;

  reset(): void {
    this.count = 0;
    this.servable = true;
  }

  add(counter: number, tag = 0): void {
    if (this.count === this.values.length) {
      const values = new Float64Array(this.values.length * 2);
      values.set(this.values);
      this.values = values;
      const tags = new Float64Array(this.tags.length * 2);
      tags.set(this.tags);
      this.tags = tags;
    }
    this.tags[this.count] = tag;
    this.values[this.count++] = counter;
    if (!servesCounter(counter)) this.servable = false;
  }
}
