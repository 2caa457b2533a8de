export { createPublisher, Publisher, PublisherOptions } from './publisher';
export { DEFAULT_MAX_BODY_BYTES_IN_FLIGHT } from './body-budget';
