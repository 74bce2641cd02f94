import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ENVELOPE_HEADER_BYTES, EnvelopeError, type Frame, decodeEnvelope, encodeEnvelope, isJpeg } from './envelope.js';

// includeErrorInReport: the assertion's own message in the report, not only "property failed".
const RUNS = { numRuns: 400, includeErrorInReport: true };

const jpegArb = fc
  .uint8Array({ maxLength: 64, size: 'medium' })
  .map((inner) => Buffer.concat([Buffer.from([0xff, 0xd8]), inner, Buffer.from([0xff, 0xd9])]));

const frameArb: fc.Arbitrary<Frame> = fc.record({
  sequence: fc.maxSafeNat(),
  // Any finite double, -0 and subnormals included: the header stores the raw float64.
  capturedAt: fc.double({ noNaN: true, noDefaultInfinity: true }),
  width: fc.integer({ min: 1, max: 0xffff }),
  height: fc.integer({ min: 1, max: 0xffff }),
  jpeg: jpegArb,
});

/** One edit to a valid envelope; each kind reaches a different check in the decoder. */
const editArb = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xff }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  // Any wire value of one header field, NaN, infinities, 2^64-1 and zero sizes included:
  // random single bytes would almost never build those.
  fc.record({
    kind: fc.constant('sequence' as const),
    value: fc.oneof(fc.bigInt({ min: 2n ** 53n - 3n, max: 2n ** 53n + 3n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  }),
  fc.record({ kind: fc.constant('capturedAt' as const), value: fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity), fc.double()) }),
  fc.record({
    kind: fc.constant('size' as const),
    at: fc.constantFrom(20, 22), // width, height
    value: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
  }),
);
type Edit = typeof editArb extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(message: Buffer, edit: Edit): Buffer {
  const copy = Buffer.from(message);
  switch (edit.kind) {
    case 'set':
      if (copy.length > 0) copy[edit.at % copy.length] = edit.value;
      return copy;
    case 'truncate':
      return copy.subarray(0, edit.at % (copy.length + 1));
    case 'append':
      return Buffer.concat([copy, edit.bytes]);
    // An earlier truncation may have cut the field off; then there is nothing to overwrite.
    case 'sequence':
      if (copy.length >= 12) copy.writeBigUInt64BE(edit.value, 4);
      return copy;
    case 'capturedAt':
      if (copy.length >= 20) copy.writeDoubleBE(edit.value, 12);
      return copy;
    case 'size':
      if (copy.length >= edit.at + 2) copy.writeUInt16BE(edit.value, edit.at);
      return copy;
  }
}

/** Random bytes behind a plausible start, so the fuzzing gets past the magic and version checks. */
const headerishArb = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.uint8Array({ maxLength: 48, size: 'max' }))
  .map(([version, rest]) => Buffer.concat([Buffer.from([0x43, 0x52, version]), rest]));

/**
 * Decodes, and holds the decoder to its contract: it throws EnvelopeError and nothing else,
 * and whatever it accepts is a frame the encoder would have written as exactly these bytes.
 */
function decodeStrictly(message: Buffer): void {
  let frame: Frame;
  try {
    frame = decodeEnvelope(message);
  } catch (error) {
    assert.ok(error instanceof EnvelopeError, `decoder threw ${String(error)}`);
    return;
  }
  // The JPEG must be the rest of this message, as a view: a copy or a wrong offset would
  // show up here even when the bytes happen to be equal.
  assert.equal(frame.jpeg.buffer, message.buffer);
  assert.equal(frame.jpeg.byteOffset, message.byteOffset + ENVELOPE_HEADER_BYTES);
  assert.equal(frame.jpeg.length, message.length - ENVELOPE_HEADER_BYTES);
  assert.ok(isJpeg(frame.jpeg));
  // encodeEnvelope validates every field, so this also proves the decoded values are in
  // range. Byte 3 is reserved and the decoder deliberately ignores it.
  const canonical = Buffer.from(message);
  canonical[3] = 0;
  assert.deepEqual(encodeEnvelope(frame), canonical);
}

describe('frame envelope properties', () => {
  it('decodes every encodable frame back to the same fields, wherever the message sits in memory', () => {
    fc.assert(
      fc.property(frameArb, fc.uint8Array({ maxLength: 9 }), fc.uint8Array({ maxLength: 9 }), (frame, before, after) => {
        // Surrounding bytes catch a decoder that reads the whole ArrayBuffer instead of its slice.
        const backing = Buffer.concat([before, encodeEnvelope(frame), after]);
        const message = backing.subarray(before.length, backing.length - after.length);
        const decoded = decodeEnvelope(message);
        assert.equal(decoded.sequence, frame.sequence);
        assert.equal(decoded.capturedAt, frame.capturedAt); // Object.is: -0 must stay -0
        assert.equal(decoded.width, frame.width);
        assert.equal(decoded.height, frame.height);
        assert.deepEqual(decoded.jpeg, frame.jpeg);
      }),
      RUNS,
    );
  });

  it('throws only EnvelopeError on arbitrary bytes, and accepts only consistent frames', () => {
    // size 'max': by default fast-check keeps arrays to about ten bytes, all shorter than a header.
    const bytesArb = fc.uint8Array({ maxLength: 64, size: 'max' }).map((b) => Buffer.from(b));
    fc.assert(fc.property(fc.oneof(bytesArb, headerishArb), decodeStrictly), RUNS);
  });

  it('throws only EnvelopeError on damaged envelopes, and accepts only consistent frames', () => {
    fc.assert(
      fc.property(frameArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), (frame, edits) => {
        decodeStrictly(edits.reduce(applyEdit, encodeEnvelope(frame)));
      }),
      RUNS,
    );
  });
});
