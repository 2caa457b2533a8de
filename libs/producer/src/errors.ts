import { Problem } from '@fanout/contracts';

/** One problem of an event's schema, with its dotted path (`data.percent`). */
export interface FieldError {
  path: string;
  message: string;
}

/** Why a publish did not store its event. `status` is the HTTP status, 0 when there was no answer. */
export class ProducerError extends Error {
  override name = 'ProducerError';
  constructor(
    message: string,
    readonly status: number,
    /** The event this error is about (undefined when it was refused before it had one). */
    readonly eventId: string | undefined,
    /** The server's problem+json answer, when there was one. */
    readonly problem?: Problem,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The event breaks the schema: found before queueing (nothing sent), or by the server's 400. */
export class ValidationError extends ProducerError {
  override name = 'ValidationError';
  constructor(
    message: string,
    eventId: string | undefined,
    readonly errors: FieldError[],
    problem?: Problem,
  ) {
    super(message, 400, eventId, problem);
  }
}

/** 409: the event breaks its subject's (or step's) state machine; nothing of it was stored. */
export class ProducerConflictError extends ProducerError {
  override name = 'ProducerConflictError';
  constructor(
    message: string,
    eventId: string,
    /** The subject's (or step's) status when the event came, `none` before its first. */
    readonly current: string,
    /** The status the event asked for (or its type, for an event that is not a status). */
    readonly requested: string,
    problem?: Problem,
  ) {
    super(message, 409, eventId, problem);
  }
}

/** 429: the event would create a subject while its tenant holds its quota of subjects. */
export class ProducerQuotaError extends ProducerError {
  override name = 'ProducerQuotaError';
  constructor(
    message: string,
    eventId: string,
    /** The server's `Retry-After`, in seconds (undefined when it sent none). */
    readonly retryAfterSeconds: number | undefined,
    problem?: Problem,
  ) {
    super(message, 429, eventId, problem);
  }
}

/**
 * The publisher stayed unavailable (503s, no answer) past the retry policy's `maxElapsedMs`. The event
 * may or may not be stored (an answer can be lost after the store): publishing it again with the same
 * eventId is safe and says which.
 */
export class ProducerUnavailableError extends ProducerError {
  override name = 'ProducerUnavailableError';
}

/** `publish` after `close()`. */
export class ProducerClosedError extends ProducerError {
  override name = 'ProducerClosedError';
  constructor() {
    super('the producer is closed', 0, undefined);
  }
}
