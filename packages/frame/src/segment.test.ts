import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvelopeError } from './envelope.js';
import { SEGMENT_HEADER_BYTES, decodeSegment, encodeSegment, isKeyframeEnvelope, isSegmentEnvelope } from './segment.js';
import type { Segment } from './segment.js';

const moof = (bytes: number) => {
  const box = Buffer.alloc(bytes, 7);
  box.writeUInt32BE(bytes, 0);
  box.write('moof', 4, 'latin1');
  return box;
};
const KEYFRAME: Segment = {
  sequence: 2 ** 40 + 5,
  capturedAt: 1_796_000_000_123.25,
  width: 640,
  height: 480,
  keyframe: true,
  index: 0,
  init: Buffer.from('ftyp....moov....'),
  fragment: moof(100),
};
const DELTA: Segment = { ...KEYFRAME, keyframe: false, index: 3, init: null, fragment: moof(40) };

describe('segment envelopes', () => {
  it('carries a keyframe with its init segment, and a frame between keyframes without', () => {
    for (const segment of [KEYFRAME, DELTA]) {
      const envelope = encodeSegment(segment);
      assert.equal(envelope.length, SEGMENT_HEADER_BYTES + (segment.init?.length ?? 0) + segment.fragment.length);
      assert.deepEqual(decodeSegment(envelope), segment);
      assert.ok(isSegmentEnvelope(envelope));
      assert.equal(isKeyframeEnvelope(envelope), segment.keyframe);
    }
  });

  it('shares the JPEG envelope’s first 24 bytes, so capture stamps the epoch into either alike', () => {
    const envelope = encodeSegment(KEYFRAME);
    assert.equal(envelope.toString('latin1', 0, 2), 'CR');
    assert.equal(Number(envelope.readBigUInt64BE(4)), KEYFRAME.sequence);
    assert.equal(envelope.readDoubleBE(12), KEYFRAME.capturedAt);
  });

  it('refuses a keyframe without its init segment, a frame between keyframes with one, and bytes that are not a fragment', () => {
    assert.throws(() => encodeSegment({ ...KEYFRAME, init: null }), EnvelopeError);
    assert.throws(() => encodeSegment({ ...DELTA, init: Buffer.from('x') }), EnvelopeError);
    assert.throws(() => encodeSegment({ ...DELTA, index: 0 }), EnvelopeError);
    const notFragment = encodeSegment(DELTA);
    notFragment.write('mdat', SEGMENT_HEADER_BYTES + 4, 'latin1');
    assert.throws(() => decodeSegment(notFragment), EnvelopeError);
    const initTooLong = encodeSegment(KEYFRAME);
    initTooLong.writeUInt32BE(1_000_000, 28);
    assert.throws(() => decodeSegment(initTooLong), EnvelopeError);
    assert.throws(() => decodeSegment(Buffer.alloc(10)), EnvelopeError);
  });
});
