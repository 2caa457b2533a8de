import { SUBJECT_ID_PATTERN, SubjectKind, TenantSubject, kindFromRouteSegment } from '@fanout/contracts';
import { HttpProblem } from '@fanout/http';

/** The subject named by `/:segment/:id`, inside the caller's tenant. */
export function subjectFromPath(segment: string, id: string, tenant: string): TenantSubject {
  const kind: SubjectKind | undefined = kindFromRouteSegment(segment);
  if (!kind) throw new HttpProblem(404, `no such subject kind ${JSON.stringify(segment)}: use jobs, pack-runs or runs`);
  if (!SUBJECT_ID_PATTERN.test(id)) throw new HttpProblem(400, 'the subject id must match ^[A-Za-z0-9._:-]{1,128}$');
  return { tenant, kind, id };
}

/** The same answer for a subject that does not exist and for another tenant's: nothing to tell them apart. */
export function unknownSubject(subject: TenantSubject): HttpProblem {
  return new HttpProblem(404, `no ${subject.kind} with id ${subject.id}`);
}
