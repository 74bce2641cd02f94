/**
 * Incremental parser for multipart/x-mixed-replace streams, fed chunks as they arrive from
 * a socket. Used by the test and benchmark clients, which read hundreds of streams, so it
 * keeps copies down: a part whose body arrives in one chunk is returned as a view into that
 * chunk (so a caller must not reuse a chunk's memory after pushing it).
 *
 * Accepts parts with Content-Length (read exactly) and without (body ends at the next
 * delimiter, as the classic Flask example writes them). In strict mode it accepts only what
 * this package's writer writes, for clients that check a gateway's output.
 */
import { CamrelayError } from '@camrelay/errors';

export interface Part {
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export type MultipartErrorCode = 'bad_boundary' | 'malformed' | 'too_large' | 'truncated';

/** Input that is not a multipart stream as this parser reads one; the code says how. */
export class MultipartError extends CamrelayError<MultipartErrorCode> {}

export interface ParserLimits {
  /** Largest header block of one part. @default 8192 */
  maxHeaderBytes?: number;
  /** Largest part body. @default 16 MiB */
  maxPartBytes?: number;
}

export interface ParserOptions extends ParserLimits {
  /**
   * Accept only streams as streamPreamble and encodePart write them: a delimiter exactly
   * where one is due (no preamble, blank lines or padding), and every part with Content-Type
   * image/jpeg, a Content-Length, an integer X-Sequence and a decimal X-Timestamp. Other
   * headers pass through. What RFC 2046 tolerates a camrelay gateway has no reason to send,
   * so in a test it is a bug. @default false
   */
  strict?: boolean;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

type State = 'delimiter' | 'headers' | 'body' | 'after-body' | 'end';

export class MultipartParser {
  private readonly delimiter: Buffer; // "--boundary"
  private readonly bodyEnd: Buffer; // "\r\n--boundary"
  private readonly maxHeaderBytes: number;
  private readonly maxPartBytes: number;
  private readonly strict: boolean;
  private state: State = 'delimiter';
  private pending: Buffer = Buffer.alloc(0);
  /**
   * Chunks of a Content-Length body that is still incomplete, joined once when it is: joining
   * at every chunk copied each part about twice over, the largest cost of a test client that
   * reads 150 streams.
   */
  private bodyChunks: Buffer[] = [];
  private bodyChunksLength = 0;
  private headers: Record<string, string> = {};
  private bodyLength = -1;
  /** Without Content-Length: how far the pending body was already searched for its end. */
  private scanned = 0;

  constructor(boundary: string, options: ParserOptions = {}) {
    if (!/^[\x21-\x7e]{1,70}$/.test(boundary)) throw new MultipartError('bad_boundary', `invalid boundary ${JSON.stringify(boundary)}`);
    this.delimiter = Buffer.from(`--${boundary}`, 'latin1');
    this.bodyEnd = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.maxHeaderBytes = options.maxHeaderBytes ?? 8192;
    this.maxPartBytes = options.maxPartBytes ?? 16 * 1024 * 1024;
    this.strict = options.strict ?? false;
  }

  /** True once the closing delimiter ("--boundary--") has been read. */
  get ended(): boolean {
    return this.state === 'end';
  }

  /**
   * True when the input so far stops inside a part's body: some of it has arrived, not all.
   * A client that wants to leave in the middle of a picture asks this between pushes.
   */
  get midBody(): boolean {
    if (this.state !== 'body') return false;
    return (this.bodyChunks.length > 0 ? this.bodyChunksLength : this.pending.length) > 0;
  }

  /**
   * Tells the parser its input is over. Throws MultipartError unless the stream ended with
   * its closing delimiter: without one, a stream cut off between two parts looks complete.
   */
  end(): void {
    if (this.state === 'end') return;
    // Every part the writer writes ends with the next part's delimiter: a stream can stop
    // cleanly, if without its close, right after one.
    const inPart = this.state === 'body' || (this.state === 'headers' && this.pending.length > 0);
    throw new MultipartError('truncated', inPart ? 'stream ended in the middle of a part' : 'stream ended without its closing delimiter');
  }

  /** Feeds bytes; returns the parts they completed. Throws MultipartError on malformed input. */
  push(chunk: Buffer): Part[] {
    const parts: Part[] = [];
    if (this.state === 'end') return parts; // an epilogue after the closing delimiter is ignored
    if (this.state === 'body' && this.bodyLength >= 0) {
      if (this.bodyChunks.length === 0) this.addBodyChunk(this.pending);
      this.addBodyChunk(chunk);
      if (this.bodyChunksLength < this.bodyLength) return parts;
      this.pending = Buffer.concat(this.bodyChunks, this.bodyChunksLength);
      this.bodyChunks = [];
      this.bodyChunksLength = 0;
    } else {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    }
    for (;;) {
      const progressed = this.step(parts);
      if (!progressed) break;
    }
    return parts;
  }

  private addBodyChunk(chunk: Buffer): void {
    this.bodyChunks.push(chunk);
    this.bodyChunksLength += chunk.length;
  }

  private step(parts: Part[]): boolean {
    const buf = this.pending;
    switch (this.state) {
      case 'delimiter': {
        // Between parts: optional CRLFs (not in strict mode), then "--boundary", then CRLF
        // (next part) or "--" (end).
        let offset = 0;
        while (!this.strict && buf.length >= offset + 2 && buf[offset] === 0x0d && buf[offset + 1] === 0x0a) offset += 2;
        if (offset > this.maxHeaderBytes) throw new MultipartError('malformed', 'too many blank lines before a delimiter');
        const need = offset + this.delimiter.length + 2;
        if (buf.length < need) {
          if (!this.strict && buf.length - offset === 1 && buf[offset] === 0x0d) return false; // half of a CRLF
          if (!this.delimiter.subarray(0, Math.max(0, buf.length - offset)).equals(buf.subarray(offset, offset + this.delimiter.length))) {
            throw new MultipartError('malformed', 'expected a boundary delimiter');
          }
          return false;
        }
        if (!buf.subarray(offset, offset + this.delimiter.length).equals(this.delimiter))
          throw new MultipartError('malformed', 'expected a boundary delimiter');
        let after = offset + this.delimiter.length;
        if (buf[after] === 0x2d && buf[after + 1] === 0x2d) {
          this.state = 'end';
          this.pending = Buffer.alloc(0);
          return false;
        }
        // RFC 2046 allows linear whitespace between a delimiter and its CRLF; the writer never
        // writes any.
        while (!this.strict && after < buf.length && (buf[after] === 0x20 || buf[after] === 0x09)) after++;
        if (after - offset - this.delimiter.length > 64) throw new MultipartError('malformed', 'boundary delimiter not followed by CRLF');
        if (after < buf.length && buf[after] !== 0x0d) throw new MultipartError('malformed', 'boundary delimiter not followed by CRLF');
        if (buf.length < after + 2) return false;
        if (buf[after + 1] !== 0x0a) throw new MultipartError('malformed', 'boundary delimiter not followed by CRLF');
        this.pending = buf.subarray(after + 2);
        this.state = 'headers';
        return true;
      }
      case 'headers': {
        // A part with no headers at all starts directly with CRLF.
        if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
          if (this.strict) throw new MultipartError('malformed', 'part without headers');
          this.headers = {};
          this.bodyLength = -1;
          this.pending = buf.subarray(2);
          this.state = 'body';
          return true;
        }
        const end = buf.indexOf(HEADER_END);
        if (end === -1) {
          // The last 3 bytes may be the start of the blank line that ends a block of exactly the limit.
          if (buf.length > this.maxHeaderBytes + HEADER_END.length - 1)
            throw new MultipartError('too_large', `part headers exceed ${this.maxHeaderBytes} bytes`);
          return false;
        }
        if (end > this.maxHeaderBytes) throw new MultipartError('too_large', `part headers exceed ${this.maxHeaderBytes} bytes`);
        this.headers = parseHeaders(buf.toString('latin1', 0, end));
        if (this.strict) checkWriterHeaders(this.headers);
        this.bodyLength = contentLength(this.headers, this.maxPartBytes);
        this.pending = buf.subarray(end + HEADER_END.length);
        this.state = 'body';
        return true;
      }
      case 'body': {
        if (this.bodyLength >= 0) {
          if (buf.length < this.bodyLength) return false;
          parts.push({ headers: this.headers, body: buf.subarray(0, this.bodyLength) });
          this.pending = buf.subarray(this.bodyLength);
          this.state = 'after-body';
          return true;
        }
        // Resume the search where the last chunk ended, not from the start of the part.
        const end = buf.indexOf(this.bodyEnd, Math.max(0, this.scanned - this.bodyEnd.length + 1));
        if (end === -1) {
          if (buf.length > this.maxPartBytes + this.bodyEnd.length)
            throw new MultipartError('too_large', `part exceeds ${this.maxPartBytes} bytes`);
          this.scanned = buf.length;
          return false;
        }
        // A body that arrived in one push is not exempt from the limit.
        if (end > this.maxPartBytes) throw new MultipartError('too_large', `part exceeds ${this.maxPartBytes} bytes`);
        this.scanned = 0;
        parts.push({ headers: this.headers, body: buf.subarray(0, end) });
        this.pending = buf.subarray(end + CRLF.length);
        this.state = 'delimiter';
        return true;
      }
      case 'after-body': {
        // After a Content-Length body: CRLF, then the delimiter.
        if (buf.length < 2) return false;
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw new MultipartError('malformed', 'part body longer than its Content-Length');
        this.pending = buf.subarray(2);
        this.state = 'delimiter';
        return true;
      }
      case 'end':
        return false;
    }
  }
}

/** Reads the boundary parameter of a multipart Content-Type header. */
export function boundaryOf(contentType: string): string {
  const match = /^\s*multipart\/[a-z-]+\s*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new MultipartError('bad_boundary', `no multipart boundary in ${JSON.stringify(contentType)}`);
  return boundary;
}

function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError('malformed', `malformed part header line ${JSON.stringify(line.slice(0, 80))}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** The headers encodePart writes, each as it writes it. */
function checkWriterHeaders(headers: Record<string, string>): void {
  const { 'content-type': type, 'content-length': length, 'x-sequence': sequence, 'x-timestamp': timestamp } = headers;
  if (type !== 'image/jpeg') throw new MultipartError('malformed', `part Content-Type ${JSON.stringify(type)}, not image/jpeg`);
  if (length === undefined) throw new MultipartError('malformed', 'part without Content-Length');
  if (sequence === undefined || !/^\d{1,16}$/.test(sequence) || !Number.isSafeInteger(Number(sequence)))
    throw new MultipartError('malformed', `part X-Sequence ${JSON.stringify(sequence)}`);
  if (timestamp === undefined || !/^-?\d{1,16}(?:\.\d{1,9})?$/.test(timestamp))
    throw new MultipartError('malformed', `part X-Timestamp ${JSON.stringify(timestamp)}`);
}

function contentLength(headers: Record<string, string>, max: number): number {
  const value = headers['content-length'];
  if (value === undefined) return -1;
  if (!/^\d{1,10}$/.test(value)) throw new MultipartError('malformed', `bad Content-Length ${JSON.stringify(value)}`);
  const length = Number(value);
  if (length > max) throw new MultipartError('too_large', `part of ${length} bytes exceeds ${max} bytes`);
  return length;
}
