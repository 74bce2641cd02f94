/**
 * Is a cheap "nearly the same picture" test on the JPEG bytes worth having, beside capture's
 * byte-identical one? A real sensor's still scene is never byte-identical: noise changes every
 * frame. This makes a still 640x480 scene with sensor-like noise and the same scene with a
 * small object moving (what must not be dropped), encodes both as capture would (quality 80),
 * and reports, for each test, what it catches of the still frames, what it wrongly catches of
 * the moving ones, and its cost per frame.
 *
 *   node bench/dist/near-identical.js [--frames 120]
 */
import { parseArgs } from 'node:util';
import { loadOpenCV } from '@camrelay/capture';

const { values } = parseArgs({ options: { frames: { type: 'string', default: '120' } } });
const FRAMES = Number(values.frames);
const cv = await loadOpenCV(process.env);
const WIDTH = 640;
const HEIGHT = 480;

/** The scene: a few flat areas and edges, like a room or a printer bed. */
const scene = new cv.Mat(HEIGHT, WIDTH, cv.CV_8UC3, [90, 110, 130]);
scene.drawRectangle(new cv.Point2(60, 300), new cv.Point2(580, 460), new cv.Vec3(60, 60, 60), -1);
scene.drawRectangle(new cv.Point2(400, 60), new cv.Point2(600, 260), new cv.Vec3(200, 200, 190), -1);
scene.drawCircle(new cv.Point2(200, 150), 80, new cv.Vec3(40, 140, 220), -1);
scene.putText('bench 3', new cv.Point2(80, 400), cv.FONT_HERSHEY_SIMPLEX, 2, new cv.Vec3(230, 230, 230), 3);

const sceneBytes = scene.getData();
/** Standard normal samples (Box-Muller), read from a random offset for each frame: cheaper than drawing 0.9 M a frame. */
const gaussian = Float32Array.from(
  { length: 1 << 21 },
  () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random()),
);

function frame(noiseSigma: number, objectAt: number | null): Buffer {
  const bytes = Buffer.from(sceneBytes);
  const offset = Math.floor(Math.random() * (gaussian.length - bytes.length));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.max(0, Math.min(255, Math.round(bytes[i]! + noiseSigma * gaussian[offset + i]!)));
  const picture = new cv.Mat(bytes, HEIGHT, WIDTH, cv.CV_8UC3);
  if (objectAt !== null)
    picture.drawRectangle(new cv.Point2(objectAt, 200), new cv.Point2(objectAt + 12, 212), new cv.Vec3(20, 20, 20), -1);
  return cv.imencode('.jpg', picture, [cv.IMWRITE_JPEG_QUALITY, 80]);
}

interface Series {
  readonly name: string;
  readonly jpegs: Buffer[];
}

const series: Series[] = [];
for (const sigma of [0, 1, 2, 4]) {
  series.push({ name: `still, noise σ ${sigma}`, jpegs: Array.from({ length: FRAMES }, () => frame(sigma, null)) });
}
// A 12-pixel object moving 2 pixels a frame: a slow change, the kind that must still be sent.
series.push({ name: 'moving object, noise σ 2', jpegs: Array.from({ length: FRAMES }, (_, i) => frame(2, 100 + 2 * (i % 200))) });

interface Test {
  readonly name: string;
  /** True when frame b would be dropped as "the same" as frame a. */
  same(a: Buffer, b: Buffer): boolean;
}

/** A 1/8-scale greyscale decode (libjpeg scales while decoding): decoded once per frame, kept for the next. */
const decoded = new WeakMap<Buffer, ReturnType<typeof cv.imdecode>>();
const small = (jpeg: Buffer) => {
  let picture = decoded.get(jpeg);
  if (!picture) decoded.set(jpeg, (picture = cv.imdecode(jpeg, cv.IMREAD_REDUCED_GRAYSCALE_8)));
  return picture;
};
const tests: Test[] = [
  { name: 'bytes identical (capture today)', same: (a, b) => a.equals(b) },
  { name: 'length within 0.5 %', same: (a, b) => Math.abs(a.length - b.length) <= a.length * 0.005 },
  { name: 'length within 2 %', same: (a, b) => Math.abs(a.length - b.length) <= a.length * 0.02 },
  // Noise averages out at 1/8 scale; a small object still changes a few pixels a lot.
  { name: '1/8-scale decode, no pixel changed by more than 12', same: (a, b) => small(a).absdiff(small(b)).minMaxLoc().maxVal <= 12 },
];

console.log(`${FRAMES} frames per series, 640x480, quality 80\n`);
console.log(`| test | µs per frame | ${series.map((s) => s.name).join(' | ')} |`);
console.log(`|---|---|${series.map(() => '---').join('|')}|`);
for (const test of tests) {
  const caught: string[] = [];
  let elapsed = 0;
  let compared = 0;
  for (const { jpegs } of series) {
    let same = 0;
    for (let i = 1; i < jpegs.length; i++) {
      const start = performance.now();
      if (test.same(jpegs[i - 1]!, jpegs[i]!)) same++;
      elapsed += performance.now() - start;
      compared++;
    }
    caught.push(`${Math.round((same / (jpegs.length - 1)) * 100)} %`);
  }
  console.log(`| ${test.name} | ${((elapsed / compared) * 1000).toFixed(1)} | ${caught.join(' | ')} |`);
}
const sizes = series.map(({ jpegs }) => Math.round(jpegs.reduce((sum, jpeg) => sum + jpeg.length, 0) / jpegs.length / 1024));
console.log(`\nmean JPEG size, KB: ${series.map((s, i) => `${s.name} ${sizes[i]}`).join('; ')}`);
