export { createPublisher, Publisher, PublisherOptions } from './publisher';
