/**
 * What the test and benchmark viewers of a stream share, whatever its format: one HTTP(S)
 * request, its body handed to the format's reader, a refusal read as the error it is (its JSON
 * names who refused), and waits on what has arrived that fail at once when the stream fails.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';

export interface StreamClientOptions {
  readonly headers?: Record<string, string>;
  readonly localAddress?: string;
  /** The certificates an https:// server's may chain to, besides Node's own (a self-signed one). */
  readonly ca?: string;
}

export abstract class StreamClient {
  response: IncomingMessage | undefined;
  /** True once the stream has ended or failed. */
  isClosed = false;
  readonly ended: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private failure: Error | undefined;
  private readonly req;

  /** `url`: http:// or https:// (HTTP/1.1 either way). */
  constructor(url: string, options: StreamClientOptions = {}) {
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
      const read = this.bodyReader(res);
      res.on('data', (chunk: Buffer) => {
        try {
          read(chunk);
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

  /** What reads the body of an accepted stream, chunk by chunk; what it throws fails the stream. */
  protected abstract bodyReader(response: IncomingMessage): (chunk: Buffer) => void;

  /** What has arrived so far, for the message of a wait that timed out. */
  protected abstract progress(): string;

  /** Resolves once `done()` holds; rejects as soon as the stream fails, or after timeoutMs. */
  waitUntil(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const failure = this.failure;
        if (failure) return settle(() => reject(failure));
        if (done()) return settle(resolve);
      };
      const timer = setTimeout(() => settle(() => reject(new Error(`no ${what} within ${timeoutMs} ms (${this.progress()})`))), timeoutMs);
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
