/**
 * Settles as `work` does, or rejects once `deadline` (epoch ms) passes, whichever comes first. The
 * work itself goes on (a late rejection of it stays handled).
 */
export function beforeDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within its time budget`)), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
