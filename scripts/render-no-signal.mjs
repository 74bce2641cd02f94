#!/usr/bin/env node
/**
 * Renders the stand-in pictures the gateway sends viewers instead of frames: two "NO SIGNAL"
 * (a camera sends no frames) and two "STARTING" (a camera that was asleep is opening for its
 * first viewer), and writes them, JPEG-encoded and base64-embedded, to
 * services/gateway/src/fanout/no-signal-images.ts.
 *
 * Run once by hand after changing the look: `node scripts/render-no-signal.mjs`
 * (add `--preview <dir>` to also write no-signal-0.jpg, starting-0.jpg, ... there to look at).
 *
 * The gateway image carries no OpenCV, so the pictures are drawn here, with the binding that
 * capture uses, and committed as generated source. The two of a kind differ only in the dot
 * (filled / hollow): alternated about once per second they blink, and a page that watches for
 * frozen pictures by comparing pixels sees a live stream.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Without this the ESM entry looks for its own auto-built OpenCV and throws "No build found";
// the binding here is built against Debian's libopencv-dev (as in services/capture/src/opencv.ts).
process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD ??= '1';
process.env.OPENCV_LOG_LEVEL ??= 'ERROR';
const { Log } = await import('@u4/opencv-build');
Log.silence = true;
const { default: cv } = await import('@u4/opencv4nodejs');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'services/gateway/src/fanout/no-signal-images.ts');
const previewAt = process.argv.indexOf('--preview');
const previewDir = previewAt === -1 ? undefined : process.argv[previewAt + 1];
if (previewAt !== -1 && !previewDir) {
  console.error('usage: node scripts/render-no-signal.mjs [--preview <dir>]');
  process.exit(2);
}

const WIDTH = 640;
const HEIGHT = 480;
const JPEG_QUALITY = 70;

// Colours are BGR.
const BACKGROUND = new cv.Vec3(46, 46, 46);
const PANEL = new cv.Vec3(30, 30, 34);
const RED = new cv.Vec3(40, 40, 220);
const AMBER = new cv.Vec3(0, 190, 255);
const WHITE = new cv.Vec3(240, 240, 240);
const LIGHT = new cv.Vec3(200, 200, 200);

const KINDS = {
  noSignal: { title: 'NO SIGNAL', lines: ['camera is not sending frames', 'the live picture returns by itself'], accent: RED },
  starting: { title: 'STARTING', lines: ['the camera is opening for you', 'the live picture follows in a moment'], accent: AMBER },
};

/** The width and height above the baseline of `text` as putText draws it. */
function measure(text, font, scale, thickness) {
  const { size } = cv.getTextSize(text, font, scale, thickness);
  return { width: size.width, height: size.height };
}

/** The largest scale, at most `max`, at which `text` fits in `width` pixels. */
function fitScale(text, font, max, thickness, width) {
  let scale = max;
  while (scale > 0.3 && measure(text, font, scale, thickness).width > width) scale -= 0.05;
  return scale;
}

/** Draws `text` horizontally centred on `centreX`, its baseline at `baselineY`. */
function centredText(mat, text, centreX, baselineY, font, scale, colour, thickness) {
  const { width } = measure(text, font, scale, thickness);
  const x = Math.round(centreX - width / 2);
  mat.putText(text, new cv.Point2(x, baselineY), font, scale, colour, thickness, cv.LINE_AA);
}

/** A filled rectangle, right and bottom exclusive; edges on the 8-pixel JPEG block grid cost little. */
function fill(mat, left, top, right, bottom, colour) {
  mat.drawRectangle(new cv.Point2(left, top), new cv.Point2(right - 1, bottom - 1), colour, cv.FILLED, cv.LINE_8);
}

function render({ title: TITLE, lines: LINES, accent }, dotFilled) {
  const mat = new cv.Mat(HEIGHT, WIDTH, cv.CV_8UC3, [BACKGROUND.x, BACKGROUND.y, BACKGROUND.z]);

  // The panel: a red-bordered box holding the alert dot and the title.
  const panel = { left: 40, right: WIDTH - 40, top: 104, bottom: 264 };
  const border = 8;
  fill(mat, panel.left, panel.top, panel.right, panel.bottom, accent);
  fill(mat, panel.left + border, panel.top + border, panel.right - border, panel.bottom - border, PANEL);

  const titleFont = cv.FONT_HERSHEY_DUPLEX;
  const titleThickness = 5;
  const dotRadius = 20;
  const gap = 26;
  const inner = panel.right - panel.left - 2 * (border + 24);
  const titleScale = fitScale(TITLE, titleFont, 2.6, titleThickness, inner - 2 * dotRadius - gap);
  const title = measure(TITLE, titleFont, titleScale, titleThickness);
  const groupWidth = 2 * dotRadius + gap + title.width;
  const groupLeft = Math.round(WIDTH / 2 - groupWidth / 2);
  const panelMiddle = (panel.top + panel.bottom) / 2;
  const titleBaseline = Math.round(panelMiddle + title.height / 2);
  const dotCentre = new cv.Point2(groupLeft + dotRadius, Math.round(panelMiddle));
  if (dotFilled) {
    mat.drawCircle(dotCentre, dotRadius, accent, cv.FILLED, cv.LINE_AA);
  } else {
    mat.drawCircle(dotCentre, dotRadius - 2, accent, 4, cv.LINE_AA);
  }
  mat.putText(
    TITLE,
    new cv.Point2(groupLeft + 2 * dotRadius + gap, titleBaseline),
    titleFont,
    titleScale,
    AMBER,
    titleThickness,
    cv.LINE_AA,
  );

  // The explanation under the panel, sized to fit the frame with a margin.
  const lineFont = cv.FONT_HERSHEY_SIMPLEX;
  const lineThickness = 2;
  const lineScale = Math.min(...LINES.map((line) => fitScale(line, lineFont, 1.1, lineThickness, WIDTH - 2 * 48)));
  const lineHeight = measure(LINES[0], lineFont, lineScale, lineThickness).height;
  const firstBaseline = panel.bottom + 40 + lineHeight;
  LINES.forEach((line, index) => {
    const colour = index === 0 ? WHITE : LIGHT;
    const baseline = firstBaseline + index * Math.round(lineHeight * 2);
    centredText(mat, line, WIDTH / 2, baseline, lineFont, lineScale, colour, lineThickness);
  });
  return mat;
}

// Optimized Huffman tables: lossless, still baseline JPEG, about a tenth smaller here.
const encode = (mat) => cv.imencode('.jpg', mat, [cv.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv.IMWRITE_JPEG_OPTIMIZE, 1]);
const pictures = Object.fromEntries(
  Object.entries(KINDS).map(([kind, look]) => [kind, [render(look, true), render(look, false)].map(encode)]),
);
const embed = (jpegs) => jpegs.map((jpeg) => `  Buffer.from('${jpeg.toString('base64')}', 'base64'),`).join('\n');

const source = `/**
 * GENERATED by scripts/render-no-signal.mjs: do not edit; change the script and run it again
 * (\`node scripts/render-no-signal.mjs\`).
 *
 * The stand-in pictures sent to viewers instead of frames: ${WIDTH}x${HEIGHT} JPEGs (quality
 * ${JPEG_QUALITY}), two of each kind, identical but for the dot, filled in the first and hollow in the
 * second. Sent alternately about once per second, they blink, and a page that detects frozen
 * pictures by comparing pixels sees the stream is alive.
 *
 * They are embedded as source because the gateway image carries no OpenCV to draw them with.
 */

/** While a camera sends no frames. */
export const NO_SIGNAL_JPEGS: readonly Buffer[] = [
${embed(pictures.noSignal)}
];

/** While a camera that was asleep opens for its first viewer. */
export const STARTING_JPEGS: readonly Buffer[] = [
${embed(pictures.starting)}
];
`;

writeFileSync(target, source);
const sizes = Object.entries(pictures).flatMap(([kind, jpegs]) => jpegs.map((jpeg, index) => `${kind} ${index} ${jpeg.length} bytes`));
console.log(`wrote ${relative(process.cwd(), target)}: ${sizes.join(', ')}`);
if (previewDir) {
  for (const [kind, jpegs] of Object.entries(pictures)) {
    jpegs.forEach((jpeg, index) => {
      const file = join(previewDir, `${kind === 'noSignal' ? 'no-signal' : kind}-${index}.jpg`);
      writeFileSync(file, jpeg);
      console.log(`wrote ${file}`);
    });
  }
}
