/** An HTTP MJPEG viewer for tests: reads a stream, parses its parts, records what it saw. */
import type { IncomingMessage } from 'node:http';
import { isJpeg } from '@camrelay/frame';
import { MultipartParser, boundaryOf } from '@camrelay/multipart';
import { StreamClient } from './stream-client.js';
import type { StreamClientOptions } from './stream-client.js';

export interface ReceivedFrame {
  readonly sequence: number;
  readonly timestamp: number;
  readonly receivedAt: number;
  readonly jpeg: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

export class StreamViewer extends StreamClient {
  readonly frames: ReceivedFrame[] = [];
  private readonly keepJpegs: boolean;

  constructor(url: string, options: StreamClientOptions & { keepJpegs?: boolean } = {}) {
    super(url, options);
    this.keepJpegs = options.keepJpegs ?? true;
  }

  protected bodyReader(response: IncomingMessage): (chunk: Buffer) => void {
    const parser = new MultipartParser(boundaryOf(String(response.headers['content-type'])));
    return (chunk) => {
      for (const part of parser.push(chunk)) {
        if (!isJpeg(part.body)) throw new Error(`part ${part.headers['x-sequence']} is not a complete JPEG`);
        this.frames.push({
          sequence: Number(part.headers['x-sequence']),
          timestamp: Number(part.headers['x-timestamp']),
          receivedAt: Date.now(),
          jpeg: this.keepJpegs ? Buffer.from(part.body) : Buffer.alloc(0),
          headers: part.headers,
        });
      }
    };
  }

  protected progress(): string {
    return `${this.frames.length} frames, last X-Sequence ${this.frames[this.frames.length - 1]?.sequence}`;
  }

  /** Resolves once `count` frames have arrived in total. */
  async waitForFrames(count: number, timeoutMs = 20_000): Promise<ReceivedFrame[]> {
    await this.waitUntil(() => this.frames.length >= count, `${count} frames`, timeoutMs);
    return this.frames.slice(0, count);
  }

  /** Frames from the camera, without the NO SIGNAL pictures sent while it had none. */
  get liveFrames(): ReceivedFrame[] {
    return this.frames.filter((frame) => frame.headers['x-no-signal'] === undefined);
  }

  /** Resolves with the first frame, from index `from` on, that satisfies `test`. */
  async waitForFrame(test: (frame: ReceivedFrame) => boolean, what: string, from = 0, timeoutMs = 20_000): Promise<ReceivedFrame> {
    let found: ReceivedFrame | undefined;
    await this.waitUntil(() => (found = this.frames.slice(from).find(test)) !== undefined, what, timeoutMs);
    return found!;
  }

  /** Resolves once a frame with at least this X-Sequence has arrived. */
  async waitForSequence(sequence: number, timeoutMs = 20_000): Promise<void> {
    await this.waitUntil(() => (this.frames[this.frames.length - 1]?.sequence ?? -1) >= sequence, `X-Sequence ${sequence}`, timeoutMs);
  }
}
