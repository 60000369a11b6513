// Helpers the browser runs share: a named checker that counts, polling, sleeping.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `f` until it returns something truthy (errors count as "not yet"), or false at `ms`. */
export async function until(f, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) return false;
    await sleep(200);
  }
}

/** `check(name, ok, detail)` printing `PREFIX: ok|FAIL name`; `summary()` the closing line. */
export function checker(prefix) {
  let passed = 0;
  let failed = 0;
  const check = (name, ok, detail = '') => {
    if (ok) passed++;
    else failed++;
    console.log(`${prefix}: ${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? ` (${detail})` : ''}`);
  };
  const summary = () => {
    console.log(`${passed} passed, ${failed} failed`);
    return failed;
  };
  return { check, summary };
}
