import { ConcurrencyLimit } from '../src/concurrency-limit';

/** A task that runs until `finish` is called. */
function heldTask(log: string[], name: string) {
  let finish!: (ok: boolean) => void;
  const done = new Promise<string>((resolve, reject) => {
    finish = (ok) => (ok ? resolve(name) : reject(new Error(`${name} failed`)));
  });
  return {
    finish,
    task: () => {
      log.push(`start ${name}`);
      return done;
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('runs at most max tasks at once, the others in the order they came; a failed task frees its slot too', async () => {
  const limit = new ConcurrencyLimit(2);
  const log: string[] = [];
  const tasks = ['a', 'b', 'c', 'd', 'e'].map((name) => heldTask(log, name));
  const results = tasks.map(({ task }) => limit.run(task).then((value) => `ok ${value}`, (error: Error) => error.message));
  await turn();
  expect(log).toEqual(['start a', 'start b']);
  expect(limit.load).toEqual({ running: 2, waiting: 3 });

  tasks[1]!.finish(false);
  await turn();
  expect(log).toEqual(['start a', 'start b', 'start c']);
  tasks[0]!.finish(true);
  await turn();
  expect(log).toEqual(['start a', 'start b', 'start c', 'start d']);
  expect(limit.load).toEqual({ running: 2, waiting: 1 });

  for (const t of tasks.slice(2)) t.finish(true);
  expect(await Promise.all(results)).toEqual(['ok a', 'b failed', 'ok c', 'ok d', 'ok e']);
  expect(log).toHaveLength(5);
  expect(limit.load).toEqual({ running: 0, waiting: 0 });
});

test('a limit must be a whole number of at least 1', () => {
  expect(() => new ConcurrencyLimit(0)).toThrow(/integer ≥ 1/);
  expect(() => new ConcurrencyLimit(1.5)).toThrow(/integer ≥ 1/);
});
