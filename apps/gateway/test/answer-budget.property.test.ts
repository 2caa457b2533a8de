/**
 * The answer budget under any order of reservations, closes and releases of several tenants: it never
 * grants past the budget or past a tenant's quarter, what it counts is what it granted and was not
 * given back, and once everything granted is given back every answer still waiting is granted (no
 * answer waits for ever behind another).
 */
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { AnswerBudget } from '../src/answer-budget';

const MiB = 1024 * 1024;

class FakeAnswer extends EventEmitter {
  destroyed = false;
  writableEnded = false;
}

type Step = { op: 'take'; tenant: string; mib: number } | { op: 'release'; pick: number } | { op: 'close'; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('take' as const), tenant: fc.constantFrom('a', 'b', 'c'), mib: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('close' as const), pick: fc.nat() }),
);

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('never over the budget or a tenant\'s quarter; counts what it granted; everything waiting is granted once all is given back', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 16, max: 48 }), fc.array(step, { maxLength: 60 }), async (budgetMiB, steps) => {
      const budget = new AnswerBudget(budgetMiB * MiB);
      const granted: { tenant: string; bytes: number }[] = [];
      const waiting = new Set<{ tenant: string; bytes: number; answer: FakeAnswer }>();
      const check = () => {
        const byTenant = new Map<string, number>();
        for (const g of granted) byTenant.set(g.tenant, (byTenant.get(g.tenant) ?? 0) + g.bytes);
        expect(budget.reservedBytes).toBe(granted.reduce((sum, g) => sum + g.bytes, 0));
        expect(budget.reservedBytes).toBeLessThanOrEqual(budget.maxBytes);
        for (const held of byTenant.values()) expect(held).toBeLessThanOrEqual(budget.maxBytesPerTenant);
      };
      for (const s of steps) {
        if (s.op === 'take') {
          const entry = { tenant: s.tenant, bytes: s.mib * MiB, answer: new FakeAnswer() };
          waiting.add(entry);
          void budget.take(entry.bytes, entry.answer, entry.tenant).then((ok) => {
            waiting.delete(entry);
            if (ok) granted.push(entry);
          });
        } else if (s.op === 'release' && granted.length > 0) {
          const [g] = granted.splice(s.pick % granted.length, 1);
          budget.release(g!.bytes, g!.tenant);
        } else if (s.op === 'close' && waiting.size > 0) {
          const entry = [...waiting][s.pick % waiting.size]!;
          entry.answer.destroyed = true;
          entry.answer.emit('close');
        }
        await flush();
        check();
      }
      for (let rounds = 0; waiting.size > 0 || granted.length > 0; rounds++) {
        if (rounds > 200) throw new Error(`${waiting.size} answers still wait with nothing held`);
        for (const g of granted.splice(0)) budget.release(g.bytes, g.tenant);
        await flush();
        check();
      }
      expect(budget.reservedBytes).toBe(0);
    }),
    { numRuns: 300 },
  );
});
