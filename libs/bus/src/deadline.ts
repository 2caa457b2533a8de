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

/** The store got to an append only after its deadline, and stored nothing: it is safe to send again. */
export class AppendDeadlineError extends Error {
  constructor(lateMs: number) {
    super(`the append ran ${lateMs} ms after its deadline; nothing was stored`);
    this.name = 'AppendDeadlineError';
  }
}
