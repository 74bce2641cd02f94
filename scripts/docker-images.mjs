#!/usr/bin/env node
/**
 * `npm run docker:images`: local stand-ins for the base images docker-compose.yml pulls from
 * Docker Hub (node, redis, haproxy), for machines that cannot reach it (a closed network, an
 * operator behind a registry mirror). Built from Debian's own mirror (debootstrap) and this
 * machine's Node, reused while their inputs are unchanged, and announced as the lines to use:
 *
 *   env $(npm run -s docker:images) docker-compose up
 *
 * On an engine whose containers may not open the 65536 files compose asks for HAProxy by
 * default (runc: "error setting rlimit type 7"), it prints LB_NOFILE too, at the engine's limit.
 *
 * Progress goes to stderr; stdout carries only the NAME=value lines. Plain Node, no
 * dependencies: it runs before (and without) `npm ci`.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const REPOSITORY = 'camrelay-local';
const SUITE = 'bookworm';
const MIRROR = 'http://deb.debian.org/debian';
/** The host's certificate authorities: npm's registry is reached through one only this file holds. */
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';
/** Apt settings copied into the images, so that apt inside a container sees what the host sees. */
const HOST_APT_FILES = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/apt.conf.d/99artifact-registry'];
const IMAGE_CA = '/usr/local/share/camrelay/host-ca.crt';

function log(message) {
  process.stderr.write(`docker:images: ${message}\n`);
}

function fail(message) {
  process.stderr.write(`docker:images: ${message}\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.error) fail(`\`${command}\` could not run: ${result.error.message}`);
  if (result.status !== 0)
    fail(
      `\`${command} ${args.join(' ')}\` failed (exit ${result.status}):\n${(result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n')}`,
    );
  return result.stdout;
}

function imageExists(tag) {
  return spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
}

function hashOf(...parts) {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 12);
}

function existingHostFiles(paths) {
  return paths.filter((path) => existsSync(path));
}

/** Builds `tag` from a context holding `dockerfile` and `files` (name → source path), unless it exists. */
function buildOnce(tag, dockerfile, files = {}) {
  if (imageExists(tag)) {
    log(`${tag}: up to date`);
    return;
  }
  const context = mkdtempSync(join(tmpdir(), 'camrelay-image-'));
  try {
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
    for (const [name, source] of Object.entries(files))
      cpSync(realpathSync(source), join(context, name), { recursive: true, dereference: true });
    const started = Date.now();
    log(`${tag}: building`);
    run('docker', ['build', '--quiet', '--tag', tag, context]);
    log(`${tag}: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/** A minimal Debian root filesystem from Debian's mirror, imported as an image. */
function debianBase() {
  const aptFiles = existingHostFiles(HOST_APT_FILES);
  const tag = `${REPOSITORY}/debian:${SUITE}-${hashOf(SUITE, MIRROR, ...aptFiles.map((path) => readFileSync(path)))}`;
  if (imageExists(tag)) {
    log(`${tag}: up to date`);
    return tag;
  }
  if (spawnSync('debootstrap', ['--version'], { stdio: 'ignore' }).error)
    fail('debootstrap is missing; run: sudo apt-get install -y debootstrap');
  if (process.getuid?.() !== 0) fail('debootstrap needs root; run: sudo npm run docker:images');
  const root = mkdtempSync(join(tmpdir(), 'camrelay-rootfs-'));
  try {
    const started = Date.now();
    log(`${tag}: debootstrap ${SUITE} from ${MIRROR} (about a minute)`);
    run('debootstrap', ['--variant=minbase', SUITE, root, MIRROR]);
    for (const path of aptFiles) {
      mkdirSync(join(root, dirname(path)), { recursive: true });
      cpSync(path, join(root, path));
    }
    // The sources file above replaces debootstrap's own list; keep one, not two.
    if (aptFiles.some((path) => path.endsWith('.sources'))) rmSync(join(root, 'etc/apt/sources.list'), { force: true });
    rmSync(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
    run('sh', ['-c', 'set -e; tar -C "$0" -c . | docker import --change \'CMD ["bash"]\' - "$1"', root, tag]);
    log(`${tag}: imported in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return tag;
}

const APT_INSTALL = 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends';
const APT_CLEAN = 'rm -rf /var/lib/apt/lists/*';

/**
 * Like the official node image: node and npm in /usr/local, Node's headers (node-gyp builds
 * against them instead of downloading them), a `node` user with uid 1000.
 */
function nodeImage(base) {
  const nodeBinary = process.execPath;
  const npmDir = join(dirname(realpathSync(nodeBinary)), '..', 'lib', 'node_modules', 'npm');
  const headers = join(dirname(realpathSync(nodeBinary)), '..', 'include', 'node');
  for (const [what, path] of [
    ['npm', npmDir],
    ["Node's headers", headers],
    ['the host CA bundle', HOST_CA],
  ]) {
    if (!existsSync(path)) fail(`${what} not found at ${path}`);
  }
  const dockerfile = `FROM ${base}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY include /usr/local/include/node
COPY ca.crt ${IMAGE_CA}
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_EXTRA_CA_CERTS=${IMAGE_CA} npm_config_cafile=${IMAGE_CA} npm_config_nodedir=/usr/local
CMD ["node"]
`;
  const npmVersion = JSON.parse(readFileSync(join(npmDir, 'package.json'), 'utf8')).version;
  const tag = `${REPOSITORY}/node:${process.versions.node}-${hashOf(base, dockerfile, readFileSync(nodeBinary), npmVersion, readFileSync(HOST_CA))}`;
  buildOnce(tag, dockerfile, { node: nodeBinary, npm: npmDir, include: headers, 'ca.crt': HOST_CA });
  return tag;
}

/** Debian's redis-server, run as the redis user like the official image. */
function redisImage(base) {
  const dockerfile = `FROM ${base}
RUN ${APT_INSTALL} redis-server && ${APT_CLEAN} && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
`;
  const tag = `${REPOSITORY}/redis:7-${hashOf(base, dockerfile)}`;
  buildOnce(tag, dockerfile);
  return tag;
}

/** Debian's HAProxy (2.6), laid out and started like the official image. */
function haproxyImage(base) {
  const dockerfile = `FROM ${base}
RUN ${APT_INSTALL} haproxy && ${APT_CLEAN} && mkdir -p /usr/local/etc/haproxy /var/lib/haproxy \\
 && chown haproxy:haproxy /var/lib/haproxy
USER haproxy
WORKDIR /var/lib/haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
`;
  const tag = `${REPOSITORY}/haproxy:2.6-${hashOf(base, dockerfile)}`;
  buildOnce(tag, dockerfile);
  return tag;
}

if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) {
  fail('no Docker engine answers; install it (sudo apt-get install -y docker.io) and start it (sudo systemctl start docker, or dockerd)');
}
/** docker-compose.yml's default for LB_NOFILE, and the open files its HAProxy configuration needs (maxconn 7000). */
const LB_NOFILE_DEFAULT = 65536;
const LB_NOFILE_NEEDED = 17600;

/**
 * The open-file limit containers may have on this engine: its own hard limit, unless the
 * daemon sets default ulimits. Compose asks for LB_NOFILE (65536 by default) for HAProxy, and
 * an engine that may not grant it fails at the start with "error setting rlimit type 7".
 */
function engineOpenFileLimit(image) {
  const limit = Number(run('docker', ['run', '--rm', '--entrypoint', 'sh', image, '-c', 'ulimit -Hn']).trim());
  return Number.isInteger(limit) ? limit : Infinity; // "unlimited"
}

/** LB_NOFILE for this engine, if the default does not fit: the line to print, or none. */
function lbNofile(image) {
  if (process.env.LB_NOFILE) return [];
  const limit = engineOpenFileLimit(image);
  if (limit >= LB_NOFILE_DEFAULT) return [];
  if (limit < LB_NOFILE_NEEDED)
    log(
      `this engine lets containers open ${limit} files, fewer than HAProxy's configuration needs (${LB_NOFILE_NEEDED} for 7000 viewers): raise dockerd's open-files limit (LimitNOFILE, or --default-ulimit nofile=65536:65536)`,
    );
  log(`this engine lets containers open at most ${limit} files (compose asks ${LB_NOFILE_DEFAULT} by default): LB_NOFILE=${limit}`);
  return [['LB_NOFILE', String(limit)]];
}

const base = debianBase();
const images = { NODE_IMAGE: nodeImage(base), REDIS_IMAGE: redisImage(base), LB_IMAGE: haproxyImage(base) };
for (const [name, value] of [...Object.entries(images), ...lbNofile(images.LB_IMAGE)]) process.stdout.write(`${name}=${value}\n`);
