import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MultipartError, MultipartParser, type ParserLimits, type ParserOptions, type Part } from './parser.js';
import { STREAM_BOUNDARY, encodePart, streamPreamble } from './writer.js';

// includeErrorInReport: the assertion's own message in the report, not only "property failed".
const RUNS = { numRuns: 300, includeErrorInReport: true };

// Every boundary the parser accepts; the short ones and the dashes make accidental
// near-delimiters in bodies likely.
const boundaryArb = fc.oneof(
  fc.constantFrom('b', '-', '--', 'b-', STREAM_BOUNDARY),
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 70 }),
);

/**
 * Body bytes as tokens, resolved once the boundary is known: random bytes alone would
 * almost never contain a CRLF or something that looks like a delimiter.
 */
const bodyTokensArb = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc.constantFrom('\r', '\n', '\r\n', '-', '--', '\r\n--', '{b}', '--{b}', '\r\n--{b}', '\r\n--{b}--'),
  ),
  { maxLength: 6 },
);

// The replacement is a function so that a "$&" in the boundary stays literal.
function resolve(tokens: ReadonlyArray<Uint8Array | string>, boundary: string): Buffer {
  return Buffer.concat(
    tokens.map((t) =>
      typeof t === 'string'
        ? Buffer.from(
            t.replaceAll('{b}', () => boundary),
            'latin1',
          )
        : t,
    ),
  );
}

/** Chunk sizes, used in turn until the stream runs out; [1] feeds one byte at a time. */
const chunkSizesArb = fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constant(1 << 20)), { minLength: 1, maxLength: 8 });

function split(stream: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = sizes[i % sizes.length]!;
    // A copy, as a socket would deliver it: parts must not depend on the caller's buffer.
    chunks.push(Buffer.from(stream.subarray(at, at + size)));
    at += size;
  }
  return chunks;
}

/**
 * What the parser holds between pushes. There is no public accessor, and the pending
 * buffer is the only thing that grows with the input.
 */
function buffered(parser: MultipartParser): number {
  const pending = (parser as unknown as { pending: unknown }).pending;
  assert.ok(Buffer.isBuffer(pending), 'MultipartParser no longer keeps its input in `pending`; update this test');
  return pending.length;
}

interface Outcome {
  parts: Part[];
  error?: MultipartError;
  ended: boolean;
}

/**
 * Pushes every chunk; fails on any exception that is not a MultipartError, on a part larger
 * than maxPartBytes, and whenever the parser holds more than its limits allow. The slack
 * above the larger limit is one delimiter line: "--", the boundary, up to 64 bytes of
 * transport padding, CRLF.
 */
function feed(boundary: string, limits: Required<ParserLimits> & ParserOptions, chunks: readonly Buffer[]): Outcome {
  const parser = new MultipartParser(boundary, limits);
  const bound = Math.max(limits.maxHeaderBytes, limits.maxPartBytes) + 2 + boundary.length + 64 + 2;
  const parts: Part[] = [];
  for (const chunk of chunks) {
    let completed: Part[];
    try {
      completed = parser.push(chunk);
    } catch (error) {
      if (!(error instanceof MultipartError)) throw error;
      return { parts, error, ended: parser.ended };
    }
    for (const part of completed) assert.ok(part.body.length <= limits.maxPartBytes, `part of ${part.body.length} bytes`);
    parts.push(...completed);
    assert.ok(buffered(parser) <= bound, `parser holds ${buffered(parser)} bytes, limit ${bound}`);
  }
  return { parts, ended: parser.ended };
}

/** The header block of an encoded part, without the blank line that ends it. */
function headerBlockBytes(part: Buffer): number {
  return part.indexOf('\r\n\r\n');
}

describe('multipart parser properties', () => {
  it('yields exactly the parts the writer wrote, however the stream is chunked', () => {
    const partArb = fc.record({ tokens: bodyTokensArb, capturedAt: fc.double({ noNaN: true }), sequence: fc.maxSafeNat() });
    fc.assert(
      fc.property(boundaryArb, fc.array(partArb, { maxLength: 5 }), chunkSizesArb, (boundary, written, sizes) => {
        const bodies = written.map((p) => resolve(p.tokens, boundary));
        const encoded = written.map((p, i) => encodePart(bodies[i]!, p, boundary));
        // Limits exactly at the largest part, so an off-by-one under some chunking shows.
        const limits = {
          maxHeaderBytes: Math.max(0, ...encoded.map(headerBlockBytes)),
          maxPartBytes: Math.max(0, ...bodies.map((b) => b.length)),
        };
        const outcome = feed(boundary, limits, split(Buffer.concat([streamPreamble(boundary), ...encoded]), sizes));

        assert.equal(outcome.error, undefined);
        assert.deepEqual(
          outcome.parts,
          written.map((p, i) => ({
            headers: {
              'content-type': 'image/jpeg',
              'content-length': String(bodies[i]!.length),
              'x-timestamp': (p.capturedAt / 1000).toFixed(6),
              'x-sequence': String(p.sequence),
            },
            body: bodies[i],
          })),
        );
      }),
      RUNS,
    );
  });

  it('in strict mode, yields what the writer wrote and knows after every chunk whether it stopped inside a body', () => {
    // Capture times a camera can have: strict mode wants X-Timestamp as plain decimals.
    const partArb = fc.record({
      tokens: bodyTokensArb,
      capturedAt: fc.double({ min: 0, max: 4.1e12, noNaN: true }),
      sequence: fc.maxSafeNat(),
      noSignal: fc.boolean(),
    });
    fc.assert(
      fc.property(boundaryArb, fc.array(partArb, { maxLength: 5 }), chunkSizesArb, (boundary, written, sizes) => {
        const bodies = written.map((p) => resolve(p.tokens, boundary));
        const encoded = written.map((p, i) => encodePart(bodies[i]!, p, boundary));
        const stream = Buffer.concat([streamPreamble(boundary), ...encoded]);
        const bodyRanges: Array<[number, number]> = [];
        for (let i = 0, at = streamPreamble(boundary).length; i < encoded.length; at += encoded[i]!.length, i++) {
          const start = at + headerBlockBytes(encoded[i]!) + 4;
          bodyRanges.push([start, start + bodies[i]!.length]);
        }
        const parser = new MultipartParser(boundary, { strict: true });
        const parts: Part[] = [];
        let at = 0;
        for (const chunk of split(stream, sizes)) {
          parts.push(...parser.push(chunk));
          at += chunk.length;
          assert.equal(
            parser.midBody,
            bodyRanges.some(([start, end]) => start < at && at < end),
            `after ${at} bytes`,
          );
        }
        assert.deepEqual(
          parts.map((p) => p.body),
          bodies,
        );
        assert.throws(() => parser.end(), /without its closing delimiter/);
      }),
      RUNS,
    );
  });

  it('yields exactly the parts of a stream without Content-Length, however it is chunked', () => {
    const partArb = fc.record({
      tokens: bodyTokensArb,
      typed: fc.boolean(), // a part may have no headers at all
      padding: fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 64, size: 'max' }), // RFC 2046 transport padding, up to the parser's 64
    });
    fc.assert(
      fc.property(
        boundaryArb,
        fc.array(partArb, { maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        chunkSizesArb,
        (boundary, written, blankLines, sizes) => {
          // Without Content-Length a body ends at the first "CRLF--boundary", so it cannot contain one.
          const bodies = written.map((p) => resolve(p.tokens, boundary));
          fc.pre(bodies.every((b) => !b.includes(`\r\n--${boundary}`)));
          const head = (typed: boolean) => (typed ? 'Content-Type: image/jpeg\r\n' : '');
          const stream = Buffer.concat([
            Buffer.from('\r\n'.repeat(blankLines)),
            ...written.flatMap((p, i) => [
              Buffer.from(`--${boundary}${p.padding}\r\n${head(p.typed)}\r\n`, 'latin1'),
              bodies[i]!,
              Buffer.from('\r\n'),
            ]),
            Buffer.from(`--${boundary}--\r\nepilogue`, 'latin1'),
          ]);
          // Blank lines before a delimiter count against maxHeaderBytes.
          const limits = {
            maxHeaderBytes: Math.max(2 * blankLines, ...written.map((p) => Math.max(0, head(p.typed).length - 2))),
            maxPartBytes: Math.max(0, ...bodies.map((b) => b.length)),
          };
          const outcome = feed(boundary, limits, split(stream, sizes));

          assert.equal(outcome.error, undefined);
          assert.ok(outcome.ended, 'closing delimiter not seen');
          assert.deepEqual(
            outcome.parts,
            written.map((p, i) => ({ headers: p.typed ? { 'content-type': 'image/jpeg' } : {}, body: bodies[i] })),
          );
        },
      ),
      RUNS,
    );
  });

  it('holds no more than its limits, however long the input goes on without completing anything', () => {
    // Each prefix leaves the parser in one state (between parts, after a delimiter, in the
    // headers, in a body without Content-Length); the filler then never lets it leave.
    const prefixArb = fc.constantFrom('', '--b', '--b\r\n', '--b\r\n\r\n');
    const fillerArb = fc.oneof(
      fc.constantFrom('\r\n', ' ', '\t', 'x', '-').map((f) => Buffer.from(f)),
      fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => Buffer.from(b)),
    );
    const limitsArb = fc.record({ maxHeaderBytes: fc.nat({ max: 64 }), maxPartBytes: fc.nat({ max: 64 }), strict: fc.boolean() });
    fc.assert(
      fc.property(prefixArb, fillerArb, limitsArb, chunkSizesArb, (prefix, filler, limits, sizes) => {
        // Long enough to pass every limit above, slack included.
        const stream = Buffer.concat([Buffer.from(prefix), ...Array<Buffer>(Math.ceil(300 / filler.length)).fill(filler)]);
        feed('b', limits, split(stream, sizes));
      }),
      RUNS,
    );
  });

  it('on any input, throws only MultipartError, stays within its limits, and decides the same under any chunking', () => {
    // Parts that are almost right (Content-Length off by one, no headers, padding) mixed
    // with fragments and random bytes reach every check; random bytes alone stop at the first.
    const partLikeArb = fc
      .record({
        padding: fc.nat({ max: 3 }),
        typed: fc.boolean(),
        stamped: fc.boolean(), // what strict mode wants besides the type and length
        lengthError: fc.option(fc.integer({ min: -1, max: 1 })),
        body: fc.uint8Array({ maxLength: 60, size: 'medium' }),
      })
      .map(({ padding, typed, stamped, lengthError, body }) => [
        `--{b}${' '.repeat(padding)}\r\n` +
          (typed ? 'Content-Type: image/jpeg\r\n' : '') +
          (stamped ? 'X-Timestamp: 1.5\r\nX-Sequence: 3\r\n' : '') +
          (lengthError === null ? '' : `Content-Length: ${body.length + lengthError}\r\n`) +
          '\r\n',
        body,
        '\r\n',
      ]);
    const fragmentArb = fc.oneof(
      fc.uint8Array({ maxLength: 12 }),
      fc.constantFrom('--{b}', '--{b}\r\n', '--{b}--', '\r\n', '\r', '--', ' ', ':', '\r\n\r\n', 'Content-Type: image/jpeg\r\n'),
      fc.nat({ max: 40 }).map((n) => `Content-Length: ${n}\r\n`),
      // Long runs, to outgrow the limits on blank lines and on padding after a delimiter.
      fc.tuple(fc.constantFrom('\r\n', ' ', 'x'), fc.nat({ max: 160 })).map(([s, n]) => s.repeat(n)),
    );
    const streamArb = fc.oneof(
      fc.uint8Array({ maxLength: 100, size: 'max' }).map((bytes) => [bytes]),
      {
        arbitrary: fc
          .tuple(
            partLikeArb,
            fc.array(
              fc.oneof(
                partLikeArb,
                fragmentArb.map((f) => [f]),
              ),
              { maxLength: 12 },
            ),
          )
          .map(([first, rest]) => [...first, ...rest.flat()]),
        weight: 4,
      },
    );
    // Small limits, so that streams this short cross them; sometimes the default header limit,
    // so that part-like headers get through to the bodies.
    const limitsArb = fc.record({
      maxHeaderBytes: fc.oneof(fc.nat({ max: 64 }), fc.constant(8192)),
      maxPartBytes: fc.nat({ max: 64 }),
      strict: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.constantFrom('b', '-', 'xy'), streamArb, limitsArb, chunkSizesArb, (boundary, tokens, limits, sizes) => {
        const stream = resolve(tokens, boundary);
        const chunked = feed(boundary, limits, split(stream, sizes));
        // One byte at a time, every part comes out as early as possible: the reference.
        const reference = feed(boundary, limits, split(stream, [1]));
        const whole = feed(boundary, limits, [stream]);

        assert.equal(chunked.error !== undefined, reference.error !== undefined, 'chunking changed whether the stream is rejected');
        assert.equal(whole.error !== undefined, reference.error !== undefined, 'one push changed whether the stream is rejected');
        assert.equal(chunked.ended, reference.ended);
        if (reference.error === undefined) {
          assert.deepEqual(chunked.parts, reference.parts);
          assert.deepEqual(whole.parts, reference.parts);
        } else {
          // A push that throws loses the parts it completed, so only a prefix is owed.
          assert.deepEqual(chunked.parts, reference.parts.slice(0, chunked.parts.length));
        }
      }),
      RUNS,
    );
  });
});
