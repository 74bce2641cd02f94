#!/usr/bin/env node
/**
 * The OpenCV binding compiles a wrapper for every module the system's OpenCV has (Debian's has
 * over 50, dnn and the contrib modules among them) and links to all of them. camrelay uses
 * core, imgproc, imgcodecs and videoio, and the binding wraps video and image I/O only when
 * highgui is there too. This makes a view of the system's OpenCV that shows
 * only those (headers through symlinks, with `opencv_modules.hpp` trimmed; libraries through
 * symlinks) and prints the variables that point the binding's build at it:
 *
 *   env $(node scripts/opencv-modules.mjs DIR) npm ci
 *
 * The binding then needs only those five OpenCV libraries at run time, and the capture image
 * installs just those. Plain Node, no dependencies.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// highgui too: the binding wraps VideoCapture, VideoWriter and imencode only when it is present.
export const OPENCV_MODULES = ['core', 'imgproc', 'imgcodecs', 'videoio', 'highgui'];

function pkgConfig(variable) {
  return execFileSync('pkg-config', [`--variable=${variable}`, 'opencv4'], { encoding: 'utf8' }).trim();
}

/** Creates the view in `dir` (replacing an old one); returns the variables for the build. */
export function opencvView(dir) {
  const includeDir = pkgConfig('includedir');
  const libDir = pkgConfig('libdir');
  const modulesHeader = join(includeDir, 'opencv2', 'opencv_modules.hpp');
  if (!existsSync(modulesHeader)) throw new Error(`${modulesHeader} not found: is libopencv-dev installed?`);

  rmSync(dir, { recursive: true, force: true });
  const headers = join(dir, 'include', 'opencv4', 'opencv2');
  const libs = join(dir, 'lib');
  mkdirSync(headers, { recursive: true });
  mkdirSync(libs);
  for (const entry of readdirSync(join(includeDir, 'opencv2'))) {
    if (entry !== 'opencv_modules.hpp') symlinkSync(join(includeDir, 'opencv2', entry), join(headers, entry));
  }
  const wanted = new Set(OPENCV_MODULES.map((name) => `#define HAVE_OPENCV_${name.toUpperCase()}`));
  const trimmed = readFileSync(modulesHeader, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('#define HAVE_OPENCV_') || wanted.has(line.trim()))
    .join('\n');
  writeFileSync(join(headers, 'opencv_modules.hpp'), trimmed);
  for (const name of OPENCV_MODULES) {
    const lib = join(libDir, `libopencv_${name}.so`);
    if (!existsSync(lib)) throw new Error(`${lib} not found: is libopencv-dev installed?`);
    symlinkSync(lib, join(libs, `libopencv_${name}.so`));
  }
  return { OPENCV_INCLUDE_DIR: join(dir, 'include', 'opencv4'), OPENCV_LIB_DIR: libs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node scripts/opencv-modules.mjs DIR');
    process.exit(2);
  }
  for (const [name, value] of Object.entries(opencvView(resolve(dir)))) console.log(`${name}=${value}`);
}
