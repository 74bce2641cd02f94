import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENVELOPE_HEADER_BYTES, EnvelopeError, decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { EnvelopeErrorCode } from './envelope.js';
import { feedId, feedVariant, isCameraId, parseFeedId } from './names.js';

const jpeg = Buffer.from([0xff, 0xd8, 1, 2, 3, 4, 5, 0xff, 0xd9]);

describe('frame envelope', () => {
  it('round-trips every field and keeps the JPEG bytes intact', () => {
    const frame = { sequence: 2 ** 40 + 7, capturedAt: 1764086400123.456, width: 1280, height: 720, jpeg };
    const decoded = decodeEnvelope(encodeEnvelope(frame));
    assert.equal(decoded.sequence, frame.sequence);
    assert.equal(decoded.capturedAt, frame.capturedAt);
    assert.equal(decoded.width, 1280);
    assert.equal(decoded.height, 720);
    assert.deepEqual(decoded.jpeg, jpeg);
  });

  it('decodes the JPEG as a view into the message, not a copy', () => {
    const message = encodeEnvelope({ sequence: 1, capturedAt: 1, width: 1, height: 1, jpeg });
    const decoded = decodeEnvelope(message);
    assert.equal(decoded.jpeg.buffer, message.buffer);
    assert.equal(decoded.jpeg.byteOffset, message.byteOffset + ENVELOPE_HEADER_BYTES);
  });

  it('rejects malformed messages with EnvelopeError', () => {
    const good = encodeEnvelope({ sequence: 3, capturedAt: 5, width: 2, height: 2, jpeg });
    const cases: Array<[string, Buffer, EnvelopeErrorCode]> = [
      ['empty', Buffer.alloc(0), 'too_short'],
      ['header only', good.subarray(0, ENVELOPE_HEADER_BYTES), 'too_short'],
      ['bad magic', Buffer.concat([Buffer.from('XX'), good.subarray(2)]), 'bad_magic'],
      ['bad version', withByte(good, 2, 9), 'unsupported_version'],
      ['zero width', withByte(withByte(good, 20, 0), 21, 0), 'bad_size'],
      ['truncated JPEG', good.subarray(0, good.length - 1), 'not_jpeg'],
      ['text', Buffer.from('hello, this is not a frame at all'), 'bad_magic'],
    ];
    for (const [name, message, code] of cases) {
      assert.throws(
        () => decodeEnvelope(message),
        (error) => error instanceof EnvelopeError && error.code === code && error.name === 'EnvelopeError',
        name,
      );
    }
  });

  it('refuses to encode what it could not decode', () => {
    assert.throws(() => encodeEnvelope({ sequence: -1, capturedAt: 0, width: 1, height: 1, jpeg }), {
      name: 'EnvelopeError',
      code: 'bad_sequence',
    });
    assert.throws(() => encodeEnvelope({ sequence: 0, capturedAt: 0, width: 0, height: 1, jpeg }), {
      name: 'EnvelopeError',
      code: 'bad_size',
    });
    assert.throws(() => encodeEnvelope({ sequence: 0, capturedAt: 0, width: 1, height: 1, jpeg: Buffer.from('no') }), {
      name: 'EnvelopeError',
      code: 'not_jpeg',
    });
  });
});

describe('camera and feed ids', () => {
  it('names a smaller size of a camera by the camera and the size', () => {
    assert.equal(feedId('cam1', '320x240'), 'cam1@320x240');
    assert.deepEqual(parseFeedId('cam1@320x240'), { cameraId: 'cam1', size: '320x240', tier: 'mjpeg' });
    assert.deepEqual(parseFeedId('cam1'), { cameraId: 'cam1', size: undefined, tier: 'mjpeg' });
  });

  it('names a camera in H.264 apart, at its own size or a smaller one, and what its capture is told to make', () => {
    assert.equal(feedId('cam1', undefined, 'h264'), 'cam1+h264');
    assert.equal(feedId('cam1', '320x240', 'h264'), 'cam1@320x240+h264');
    assert.deepEqual(parseFeedId('cam1+h264'), { cameraId: 'cam1', size: undefined, tier: 'h264' });
    assert.deepEqual(parseFeedId('cam1@320x240+h264'), { cameraId: 'cam1', size: '320x240', tier: 'h264' });
    assert.deepEqual(['cam1', 'cam1@320x240', 'cam1+h264', 'cam1@320x240+h264'].map(feedVariant), [
      undefined,
      '320x240',
      '+h264',
      '320x240+h264',
    ]);
  });

  it('accepts plain ids and refuses anything that could be a path or a pattern', () => {
    for (const id of ['default', 'cam-1', 'Printer_3', 'a']) assert.ok(isCameraId(id), id);
    for (const id of ['', '../etc', 'a/b', 'a b', '-x', 'x'.repeat(65), 'cam*', '{x}']) assert.ok(!isCameraId(id), id);
  });
});

function withByte(buffer: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[offset] = value;
  return copy;
}
