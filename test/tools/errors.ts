// Test helpers that turn "this must fail" into the value a test compares:
// the error's code or reason, refusing any other kind of error.

type ErrorClass<E> = abstract new (...args: never[]) => E;

/** Awaits `promise`, expecting it to reject with an `errorClass`; returns `field` of it. */
export async function rejectionOf<E extends Error, F extends keyof E>(promise: Promise<unknown>, errorClass: ErrorClass<E>, field: F): Promise<E[F]> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof errorClass) return error[field];
    throw error;
  }
  throw new Error(`expected a rejection with ${errorClass.name}`);
}

/** Runs `run`, expecting it to throw an `errorClass`; returns `field` of it. */
export function throwOf<E extends Error, F extends keyof E>(run: () => unknown, errorClass: ErrorClass<E>, field: F): E[F] {
  try {
    run();
  } catch (error) {
    if (error instanceof errorClass) return error[field];
    throw error;
  }
  throw new Error(`expected ${errorClass.name} to be thrown`);
}
