import { PublishedEvent, TenantSubject } from '@fanout/contracts';
import { AppendOutcome, Bus, subjectKeyString } from '@fanout/bus';

/**
 * Stores a request's events subject by subject (each subject's events all or none, in the given
 * order) and answers one outcome per event, in the request's order. Rejects once `deadline` (epoch
 * ms) passes.
 */
export async function storeEvents(bus: Bus, events: readonly PublishedEvent[], deadline: number): Promise<AppendOutcome[]> {
  const groups = new Map<string, { subject: TenantSubject; indexes: number[] }>();
  events.forEach((event, index) => {
    const subject = { tenant: event.tenant, kind: event.subject.kind, id: event.subject.id };
    const key = subjectKeyString(subject);
    const group = groups.get(key) ?? { subject, indexes: [] };
    group.indexes.push(index);
    groups.set(key, group);
  });
  const outcomes = new Array<AppendOutcome>(events.length);
  await Promise.all(
    [...groups.values()].map(async ({ subject, indexes }) => {
      const results = await bus.append(
        subject,
        indexes.map((i) => events[i]!),
        deadline,
      );
      results.forEach((result, j) => {
        outcomes[indexes[j]!] = result;
      });
    }),
  );
  return outcomes;
}
