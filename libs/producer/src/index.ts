export { checkEvent, createProducer } from './producer';
export type { Producer, ProducerEvent, ProducerOptions, RetryPolicy } from './producer';
export { describeProblem, readAnswer } from './answer';
export type { BatchOutcome, EventOutcome, SentEvent, StoredResult } from './answer';
export { ProducerClosedError, ProducerConflictError, ProducerError, ProducerQuotaError, ProducerUnavailableError, ValidationError } from './errors';
export type { FieldError } from './errors';
