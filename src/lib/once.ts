/**
 * One answer per key: the promise made at a key's first ask is shared by every later ask of it (one discovery per
 * API version, one rules review per namespace, one list per namespace). With `forgetFailures`, a key whose promise
 * rejected is asked afresh next time.
 */
export function onceByKey<T>(
  make: (key: string) => Promise<T>,
  options: { forgetFailures?: boolean } = {},
): (key: string) => Promise<T> {
  const made = new Map<string, Promise<T>>();
  return (key) => {
    let found = made.get(key);
    if (found === undefined) {
      found = make(key);
      made.set(key, found);
      if (options.forgetFailures) found.catch(() => made.delete(key));
    }
    return found;
  };
}
