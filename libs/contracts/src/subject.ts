import * as z from 'zod';

export const SUBJECT_KINDS = ['job', 'pack-run', 'run'] as const;
export type SubjectKind = (typeof SUBJECT_KINDS)[number];
export const SubjectKindSchema = z.enum(SUBJECT_KINDS);

export const SUBJECT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const SubjectIdSchema = z.string().regex(SUBJECT_ID_PATTERN, 'must match ^[A-Za-z0-9._:-]{1,128}$');

/** Tenants name key prefixes, so they may not hold the ':' that separates key parts. */
export const TENANT_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
export const TenantSchema = z.string().regex(TENANT_PATTERN, 'must match ^[A-Za-z0-9._-]{1,128}$');

export const SubjectSchema = z.strictObject({ kind: SubjectKindSchema, id: SubjectIdSchema });
export type Subject = z.infer<typeof SubjectSchema>;

/** A subject as seen by the store: always inside one tenant. */
export interface TenantSubject extends Subject {
  tenant: string;
}

/** Plural path segments of the HTTP routes (`/stream/jobs/:id`) and the kinds they name. */
export const ROUTE_SEGMENT_TO_KIND = { jobs: 'job', 'pack-runs': 'pack-run', runs: 'run' } as const satisfies Record<
  string,
  SubjectKind
>;
export type RouteSegment = keyof typeof ROUTE_SEGMENT_TO_KIND;

export function kindFromRouteSegment(segment: string): SubjectKind | undefined {
  return Object.prototype.hasOwnProperty.call(ROUTE_SEGMENT_TO_KIND, segment)
    ? ROUTE_SEGMENT_TO_KIND[segment as RouteSegment]
    : undefined;
}
