import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { TenantSubject } from '@fanout/contracts';

const CONNECT_TIMEOUT_MS = 5000;
/** How long a request may go without a byte moving. */
const IDLE_TIMEOUT_MS = 30_000;

/** Where archived subjects are kept: one object per subject, written whole. */
export interface ArchiveStore {
  put(subject: TenantSubject, body: Buffer): Promise<void>;
  /** The subject's object, or null when there is none; an object over `maxBytes` is refused unread. */
  get(subject: TenantSubject, maxBytes: number): Promise<Buffer | null>;
}

export interface S3ArchiveSettings {
  bucket: string;
  /** Put before every object key (e.g. `fanout/`). */
  prefix: string;
  /** An S3-compatible server's URL (MinIO, s3rver); unset: AWS S3 of the region. */
  endpoint?: string;
  region: string;
  /** Bucket in the path (`endpoint/bucket/key`), as most S3-compatible servers want. */
  forcePathStyle: boolean;
  /** How long a request may go without a byte moving before it fails. @default 30000 */
  idleTimeoutMs?: number;
}

/** The object key of a subject: the tenant first, so no reader can name another tenant's object. */
export function archiveObjectKey(prefix: string, subject: TenantSubject): string {
  return `${prefix}${subject.tenant}/${subject.kind}/${subject.id}`;
}

export class ArchivedObjectTooLargeError extends Error {
  constructor(key: string, bytes: number, maxBytes: number) {
    super(`the archived object ${key} holds ${bytes} bytes, over the ${maxBytes} this process reads (FANOUT_ARCHIVE_MAX_OBJECT_BYTES)`);
    this.name = 'ArchivedObjectTooLargeError';
  }
}

/** {@link ArchiveStore} on S3 or an S3-compatible server; credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID …). */
export class S3ArchiveStore implements ArchiveStore {
  private readonly client: S3Client;

  constructor(private readonly settings: S3ArchiveSettings) {
    // On Node < 22 the SDK prints a warning about its releases after January 2027: the lockfile pins
    // this one, so it tells an operator nothing, and it is seven lines of plain text among the JSON logs.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      // A store that stops answering fails the call (the archiver retries it after its lease) rather than holding it forever.
      // Without throwOnRequestTimeout the SDK only logs that the timeout passed, and the call waits for
      // ever: an S3 that stops answering would hold the archiver, and every read of the subject.
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: settings.idleTimeoutMs ?? IDLE_TIMEOUT_MS, throwOnRequestTimeout: true },
    });
  }

  async put(subject: TenantSubject, body: Buffer): Promise<void> {
    const Key = archiveObjectKey(this.settings.prefix, subject);
    await this.client.send(new PutObjectCommand({ Bucket: this.settings.bucket, Key, Body: body, ContentType: 'application/octet-stream' }));
  }

  async get(subject: TenantSubject, maxBytes: number): Promise<Buffer | null> {
    const Key = archiveObjectKey(this.settings.prefix, subject);
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key }));
      const bytes = answer.ContentLength ?? 0;
      if (bytes > maxBytes) {
        (answer.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new ArchivedObjectTooLargeError(Key, bytes, maxBytes);
      }
      return Buffer.from(await answer.Body!.transformToByteArray());
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  close(): void {
    this.client.destroy();
  }
}
