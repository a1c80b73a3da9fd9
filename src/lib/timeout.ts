/** A promise raced against a timer, the timer cleared either way: every remote call here has a bound. */
export function withTimeout<T, U = T>(work: Promise<T>, ms: number, onTimeout: () => U | Promise<U>): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (err) {
        reject(err);
      }
    }, ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
