/**
 * One TCP connection of a churn visit, opened by hand so that the visit decides the request's
 * bytes (HTTP/1.0 or 1.1, whole or cut short) and how it leaves (reset or FIN), and reads in
 * reads of a chosen size. What comes back is read by node:http's own response parser.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

export type Leave = 'destroy' | 'end';

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Each read lands here first; it may be shared with other connections. */
  readonly readBuffer: Buffer;
  /** A visit still open after this long is a failure (the gateway stopped answering). */
  readonly timeoutMs: number;
  /** Names the visit in failures. */
  readonly what: string;
  /** Records a failure. */
  readonly fail: (message: string) => void;
  /** True once the churn is stopping, when a close is nobody's fault. */
  readonly stopping: () => boolean;
}

export class Connection {
  readonly socket: Socket;
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;
  private leaving = false;
  private toResponse: ((chunk: Buffer) => void) | undefined;

  constructor(private readonly options: ConnectionOptions) {
    this.socket = connect({
      host: options.host,
      port: options.port,
      onread: {
        buffer: options.readBuffer,
        callback: (bytes: number, buffer: Uint8Array) => {
          // A copy: the buffer is overwritten by the next read, and node:http keeps what it is given.
          if (!this.leaving) this.toResponse?.(Buffer.from(buffer.subarray(0, bytes)));
          return true;
        },
      },
    });
    const timeout = setTimeout(() => this.fail(`still open after ${options.timeoutMs} ms`), options.timeoutMs);
    this.closed = new Promise<void>((resolve) =>
      this.socket.once('close', () => {
        clearTimeout(timeout);
        resolve();
      }),
    );
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.fail(error.code ?? error.message));
  }

  /** Gone by choice (the visit's, or the churn stopping), not by the gateway's doing. */
  left(): boolean {
    return this.leaving || this.options.stopping();
  }

  leave(how: Leave): void {
    if (this.leaving) return;
    this.leaving = true;
    if (how === 'destroy') this.socket.destroy();
    else this.socket.end(); // FIN: the gateway must close its side
  }

  /** Records what went wrong, unless the visit had already left, and resets the connection. */
  fail(problem: string): void {
    if (!this.left()) this.options.fail(`${this.options.what}: ${problem}`);
    this.leave('destroy');
  }

  /**
   * Reads the response to the request the visit wrote with node:http's parser; `onResponse`
   * gets it once its head has arrived. Unreadable HTTP is a failure.
   */
  readResponse(method: string, onResponse: (response: IncomingMessage) => void): void {
    const side = new ResponseSide(this.socket);
    this.toResponse = (chunk) => side.push(chunk);
    this.socket.once('end', () => side.push(null));
    this.socket.once('close', () => side.destroy());
    // A connection closed under a response is for the visit to judge, as it knows what it still
    // expected: node:http's "socket hang up" and "aborted" would only say it again, with less.
    const report = (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') this.fail(`unreadable response: ${error.message}`);
    };
    // The method tells the parser whether a body follows the head (none after HEAD).
    const request = httpRequest({ method, createConnection: () => side });
    request.on('error', report);
    request.on('response', (response) => {
      response.on('error', report);
      onResponse(response);
    });
    request.end();
  }
}

/**
 * The connection as node:http's client sees it: the bytes that arrive, for its parser; what it
 * writes (its own request head, always HTTP/1.1) goes nowhere, as the visit has already sent
 * the request it wanted. Destroying it, as node:http does on a parse error, resets the socket.
 */
class ResponseSide extends Duplex {
  constructor(private readonly socket: Socket) {
    super();
  }

  override _read(): void {
    // Bytes are pushed as the socket reads them; a visit that stops reading pauses the socket.
  }

  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: () => void): void {
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}

/**
 * A request head written by hand: node:http writes only HTTP/1.1 requests, and only whole.
 * Keep-alive is 1.1's default, and 1.0's only when asked for.
 */
export function requestHead(
  method: string,
  path: string,
  host: string,
  { http10, keepAlive }: { http10: boolean; keepAlive: boolean },
): Buffer {
  const version = http10 ? 'HTTP/1.0' : 'HTTP/1.1';
  const connection = keepAlive ? (http10 ? 'Connection: keep-alive\r\n' : '') : 'Connection: close\r\n';
  return Buffer.from(
    `${method} ${path} ${version}\r\nHost: ${host}\r\nUser-Agent: camrelay-churn\r\nAccept: */*\r\n${connection}\r\n`,
    'latin1',
  );
}
