import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadOpenCV } from '../opencv.js';
import type { OpenCV } from '../opencv.js';
import { inspectJpeg, withStandardHuffmanTables } from './jpeg-info.js';

/** The segments of a JPEG up to its scan, without those of one marker (e.g. its Huffman tables). */
function withoutSegments(jpeg: Buffer, marker: number): Buffer {
  const kept: Buffer[] = [jpeg.subarray(0, 2)];
  let at = 2;
  while (jpeg[at + 1] !== 0xda) {
    const length = jpeg.readUInt16BE(at + 2);
    if (jpeg[at + 1] !== marker) kept.push(jpeg.subarray(at, at + 2 + length));
    at += 2 + length;
  }
  kept.push(jpeg.subarray(at));
  return Buffer.concat(kept);
}

describe('inspectJpeg: what capture may publish as a source delivered it', () => {
  let cv: OpenCV;
  let baseline: Buffer;
  before(async () => {
    cv = await loadOpenCV(process.env);
    const picture = new cv.Mat(120, 200, cv.CV_8UC3, [40, 160, 220]);
    baseline = cv.imencode('.jpg', picture, [cv.IMWRITE_JPEG_QUALITY, 80]);
  });

  it('reads the size of a complete baseline JPEG from its frame header', () => {
    const info = inspectJpeg(baseline);
    assert.ok(!('problem' in info));
    assert.deepEqual([info.width, info.height, info.huffmanTables], [200, 120, true]);
  });

  it("completes a webcam's frame without Huffman tables with the standard ones: the same picture", () => {
    const picture = new cv.Mat(120, 200, cv.CV_8UC3);
    picture.drawCircle(new cv.Point2(100, 60), 40, new cv.Vec3(30, 200, 90), -1);
    const original = cv.imencode('.jpg', picture, [cv.IMWRITE_JPEG_QUALITY, 80]);
    const stripped = withoutSegments(original, 0xc4);
    const info = inspectJpeg(stripped);
    assert.ok(!('problem' in info) && !info.huffmanTables, 'a frame without tables, otherwise complete');
    const completed = withStandardHuffmanTables(stripped, info);
    assert.deepEqual(inspectJpeg(completed), { width: 200, height: 120, huffmanTables: true, scanAt: info.scanAt + 432 });
    assert.ok(cv.imdecode(completed).getData().equals(cv.imdecode(original).getData()), 'decodes to the same pixels');
  });

  it('refuses a cut frame, a progressive one, and what is no JPEG at all', () => {
    const picture = new cv.Mat(120, 200, cv.CV_8UC3, [40, 160, 220]);
    const progressive = cv.imencode('.jpg', picture, [cv.IMWRITE_JPEG_QUALITY, 80, cv.IMWRITE_JPEG_PROGRESSIVE, 1]);
    const refusals: Array<[string, Buffer, RegExp]> = [
      ['cut', baseline.subarray(0, baseline.length - 100), /no JPEG end marker/],
      ['progressive', progressive, /not a baseline JPEG/],
      ['no start marker', Buffer.concat([Buffer.from([0, 0]), baseline]), /no JPEG start marker/],
      ['a damaged segment length', Buffer.concat([baseline.subarray(0, 4), Buffer.from([0xff, 0xff]), baseline.subarray(6)]), /damaged/],
      ['empty', Buffer.alloc(0), /no JPEG start marker/],
    ];
    for (const [what, bytes, problem] of refusals) {
      const result = inspectJpeg(bytes);
      assert.ok('problem' in result, `${what}: refused`);
      assert.match(result.problem, problem, what);
    }
  });
});
