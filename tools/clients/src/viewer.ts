/** An HTTP MJPEG viewer for tests: reads a stream, parses its parts, records what it saw. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { isJpeg } from '@camrelay/frame';
import { MultipartParser, boundaryOf } from '@camrelay/multipart';

export interface ReceivedFrame {
  readonly sequence: number;
  readonly timestamp: number;
  readonly receivedAt: number;
  readonly jpeg: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

export class StreamViewer {
  readonly frames: ReceivedFrame[] = [];
  response: IncomingMessage | undefined;
  /** True once the stream has ended or failed. */
  isClosed = false;
  private readonly listeners = new Set<() => void>();
  private failure: Error | undefined;
  private readonly req;
  readonly ended: Promise<void>;

  /**
   * `url`: http:// or https:// (HTTP/1.1 either way); `ca`: the certificates an https:// server's
   * may chain to, besides Node's own (a self-signed one).
   */
  constructor(url: string, options: { keepJpegs?: boolean; headers?: Record<string, string>; localAddress?: string; ca?: string } = {}) {
    const keep = options.keepJpegs ?? true;
    let markEnded!: () => void;
    this.ended = new Promise<void>((resolve) => (markEnded = resolve)).then(() => {
      this.isClosed = true;
    });
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    this.req = request(url, { headers: options.headers, localAddress: options.localAddress, ca: options.ca }, (res) => {
      this.response = res;
      if (res.statusCode !== 200) {
        // The JSON error's code says who refused (a gateway, or the load balancer).
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => (body = (body + text).slice(0, 300)));
        res.on('end', () => this.fail(new Error(`HTTP ${res.statusCode}: ${body}`)));
        return;
      }
      const parser = new MultipartParser(boundaryOf(String(res.headers['content-type'])));
      res.on('data', (chunk: Buffer) => {
        try {
          for (const part of parser.push(chunk)) {
            if (!isJpeg(part.body)) throw new Error(`part ${part.headers['x-sequence']} is not a complete JPEG`);
            this.frames.push({
              sequence: Number(part.headers['x-sequence']),
              timestamp: Number(part.headers['x-timestamp']),
              receivedAt: Date.now(),
              jpeg: keep ? Buffer.from(part.body) : Buffer.alloc(0),
              headers: part.headers,
            });
          }
        } catch (error) {
          this.fail(error as Error);
        }
        this.notify();
      });
      res.on('end', () => (markEnded(), this.notify()));
      res.on('close', () => (markEnded(), this.notify()));
    });
    this.req.on('error', (error) => (this.fail(error), markEnded()));
    this.req.end();
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

  private waitUntil(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const failure = this.failure;
        if (failure) return settle(() => reject(failure));
        if (done()) return settle(resolve);
      };
      const timer = setTimeout(() => {
        const last = this.frames[this.frames.length - 1];
        settle(() =>
          reject(new Error(`no ${what} within ${timeoutMs} ms (${this.frames.length} frames, last X-Sequence ${last?.sequence})`)),
        );
      }, timeoutMs);
      const settle = (finish: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        finish();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Stops reading from the socket (a stalled client) or starts again. */
  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  close(): void {
    this.req.destroy();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
