/** An HTTP MJPEG viewer for tests: reads a stream, parses its parts, records what it saw. */
import { request } from 'node:http';
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
  private readonly listeners = new Set<() => void>();
  private failure: Error | undefined;
  private readonly req;
  readonly ended: Promise<void>;

  constructor(url: string, options: { keepJpegs?: boolean } = {}) {
    const keep = options.keepJpegs ?? true;
    let markEnded!: () => void;
    this.ended = new Promise((resolve) => (markEnded = resolve));
    this.req = request(url, (res) => {
      this.response = res;
      if (res.statusCode !== 200) {
        this.fail(new Error(`HTTP ${res.statusCode}`));
        res.resume();
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
  waitForFrames(count: number, timeoutMs = 20_000): Promise<ReceivedFrame[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.failure) return done(() => reject(this.failure));
        if (this.frames.length >= count) return done(() => resolve(this.frames.slice(0, count)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`only ${this.frames.length} of ${count} frames within ${timeoutMs} ms`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
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
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Reads one value from a Prometheus text exposition. */
export function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  if (!line) throw new Error(`metric ${name}${labels ? `{${labels}}` : ''} not found`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

export async function fetchMetrics(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`);
  return response.text();
}
