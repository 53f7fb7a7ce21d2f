/** The error `call` throws; fails the test when it throws nothing. */
export function errorOf(call: () => unknown): Error & { code?: string } {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}
