/**
 * The viewer page: every camera, live, in any browser.
 *
 * Browsers open at most 6 HTTP/1.1 connections per host, and a live MJPEG <img> holds one for
 * as long as it shows. So only tiles on screen stream (at most MAX_LIVE of them), the others
 * show snapshots, and a hidden page releases every stream. Streams are released by setting
 * the image's src to empty: removing the element alone can leave the connection open.
 *
 * An <img> reports no event per frame, so a live tile is watched: a few times a second its
 * picture is sampled through a small canvas, and when it has not changed for STALL_MS (its
 * gateway went away, or the stream ended) the stream is reopened through the load balancer.
 * A reopened stream starts with the latest frame, so a scene that is truly still costs one
 * reconnection per STALL_MS and shows nothing wrong. A camera without frames keeps streaming:
 * the gateway sends a blinking NO SIGNAL picture, and the live picture returns by itself.
 *
 * With access control on, the page asks /api/cameras with a token (from the link's #token=…,
 * kept in sessionStorage, or typed in) and streams the signed URLs the API hands out, which
 * an <img> can open without credentials. The URLs are refreshed with the camera list.
 */

/** A camera as /api/cameras lists it (the fields this page reads). */
interface Camera {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly online: boolean;
  readonly streamUrl: string;
  readonly snapshotUrl: string;
}

interface Tile {
  readonly id: string;
  readonly figure: HTMLElement;
  readonly img: HTMLImageElement;
  readonly caption: HTMLElement;
  readonly state: HTMLElement;
  visible: boolean;
  live: boolean;
  retry: number;
  sample: string;
  changedAt: number;
  online: boolean;
  streamUrl: string;
  snapshotUrl: string;
  /** When the URL being streamed expires (the gateway then ends the stream); Infinity unsigned. */
  streamExpiresAt: number;
}

function isCamera(value: unknown): value is Camera {
  if (typeof value !== 'object' || value === null) return false;
  const camera = value as Record<string, unknown>;
  return (
    typeof camera.id === 'string' &&
    typeof camera.width === 'number' &&
    typeof camera.height === 'number' &&
    typeof camera.fps === 'number' &&
    typeof camera.online === 'boolean' &&
    typeof camera.streamUrl === 'string' &&
    typeof camera.snapshotUrl === 'string'
  );
}

function isCameraList(value: unknown): value is Camera[] {
  return Array.isArray(value) && value.every(isCamera);
}

/** One of the page's own elements: the HTML holds them, so a missing one is a broken page. */
function pageElement<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return found;
}

const MAX_LIVE = 4;
const SNAPSHOT_EVERY_MS = 2000;
const STALL_MS = 2500;
/** A streamed URL this close to its expiry is replaced by a fresh one: three camera-list refreshes. */
const RENEW_BEFORE_MS = 15_000;
const WATCH_EVERY_MS = 500;
const probe = document.createElement('canvas');
probe.width = 64;
probe.height = 48;
const probeContext = probe.getContext('2d', { willReadFrequently: true });
const grid = pageElement('cameras', HTMLElement);
const status = pageElement('status', HTMLElement);
const tiles = new Map<string, Tile>();
const login = pageElement('login', HTMLFormElement);
const tokenInput = pageElement('token', HTMLInputElement);
const TOKEN_KEY = 'camrelay-token';
// A link may carry the token in its fragment, which is never sent to a server; keep it for
// this tab and take it out of the address bar.
const fromLink = tokenInFragment(location.hash);
if (fromLink) {
  sessionStorage.setItem(TOKEN_KEY, fromLink);
  history.replaceState(null, '', location.pathname + location.search);
}
login.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
  login.classList.remove('shown');
  void loadCameras();
});

/** A signed URL's expiry (its `exp`) in ms since the epoch; Infinity for an unsigned URL. */
function expiryOf(url: string): number {
  const exp = new URL(url, location.href).searchParams.get('exp');
  return exp === null ? Infinity : Number(exp) * 1000;
}

/** A camera URL from the API, made unique so the browser opens a new connection. */
function fresh(url: string): string {
  const unique = new URL(url, location.href);
  unique.searchParams.set('t', String(Date.now()));
  return unique.pathname + unique.search;
}

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const id = entry.target instanceof HTMLElement ? entry.target.dataset.id : undefined;
    const tile = id === undefined ? undefined : tiles.get(id);
    if (tile) tile.visible = entry.isIntersecting;
  }
  refreshStreams();
});

function tileFor(camera: Camera): Tile {
  const known = tiles.get(camera.id);
  if (known) return known;
  const figure = document.createElement('figure');
  figure.dataset.id = camera.id;
  const img = document.createElement('img');
  img.alt = 'camera ' + camera.id;
  img.decoding = 'async';
  const caption = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = camera.id;
  const state = document.createElement('span');
  state.className = 'state';
  caption.append(name, state);
  figure.append(img, caption);
  grid.append(figure);
  const tile: Tile = {
    id: camera.id,
    figure,
    img,
    caption,
    state,
    visible: false,
    live: false,
    retry: 0,
    sample: '',
    changedAt: 0,
    online: camera.online,
    streamUrl: camera.streamUrl,
    snapshotUrl: camera.snapshotUrl,
    streamExpiresAt: Infinity,
  };
  img.addEventListener('error', () => {
    if (!tile.live) return;
    // The stream failed: let it go and reopen it shortly.
    stopStream(tile);
    clearTimeout(tile.retry);
    tile.retry = setTimeout(refreshStreams, 1000);
  });
  tiles.set(camera.id, tile);
  observer.observe(figure);
  return tile;
}

function startStream(tile: Tile): void {
  tile.live = true;
  tile.changedAt = performance.now();
  tile.streamExpiresAt = expiryOf(tile.streamUrl);
  // A fresh URL each time, so the browser opens a new connection rather than reusing an ended one.
  tile.img.src = fresh(tile.streamUrl);
}

/** A short fingerprint of what the tile shows now, or '' when it cannot be read. */
function sampleOf(img: HTMLImageElement): string {
  if (!img.naturalWidth || !probeContext) return '';
  try {
    probeContext.drawImage(img, 0, 0, probe.width, probe.height);
    const pixels = probeContext.getImageData(0, 0, probe.width, probe.height).data;
    let hash = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      hash = (Math.imul(hash, 31) + (pixels[i] ?? 0) + ((pixels[i + 1] ?? 0) << 8) + ((pixels[i + 2] ?? 0) << 16)) | 0;
    }
    return String(hash);
  } catch {
    return ''; // unreadable (cross-origin): counts as no picture
  }
}

function watchStreams(): void {
  const now = performance.now();
  for (const tile of tiles.values()) {
    if (!tile.live) continue;
    const sample = sampleOf(tile.img);
    if (sample !== tile.sample) {
      tile.sample = sample;
      tile.changedAt = now;
    } else if (now - tile.changedAt >= STALL_MS) {
      stopStream(tile);
      startStream(tile);
    }
  }
}

function stopStream(tile: Tile): void {
  tile.live = false;
  tile.img.src = '';
}

function refreshStreams(): void {
  const hidden = document.visibilityState === 'hidden';
  let live = 0;
  for (const tile of tiles.values()) {
    const wanted = !hidden && tile.visible && live < MAX_LIVE;
    if (wanted) live++;
    if (wanted && !tile.live) startStream(tile);
    if (!wanted && tile.live) stopStream(tile);
  }
}

function refreshSnapshots(): void {
  if (document.visibilityState === 'hidden') return;
  for (const tile of tiles.values()) {
    if (!tile.live && tile.visible && tile.online) tile.img.src = fresh(tile.snapshotUrl);
  }
}

async function loadCameras(): Promise<void> {
  try {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const response = await fetch('/api/cameras', { cache: 'no-store', headers: token ? { Authorization: 'Bearer ' + token } : {} });
    if (response.status === 401) {
      status.textContent = token ? 'that token was not accepted' : 'an access token is needed';
      login.classList.add('shown');
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const cameras: unknown = await response.json();
    if (!isCameraList(cameras)) throw new Error('unexpected camera list');
    status.textContent = `${cameras.length}${cameras.length === 1 ? ' camera' : ' cameras'}`;
    for (const camera of cameras) {
      const tile = tileFor(camera);
      tile.online = camera.online;
      tile.streamUrl = camera.streamUrl;
      tile.snapshotUrl = camera.snapshotUrl;
      // Swapped for a fresh URL while the old one still streams: the picture goes on, and the
      // browser shows the last frame until the new stream's first.
      if (tile.live && tile.streamExpiresAt - Date.now() < RENEW_BEFORE_MS && expiryOf(tile.streamUrl) > tile.streamExpiresAt)
        startStream(tile);
      tile.figure.classList.toggle('offline', !camera.online);
      if (camera.width && camera.height) tile.figure.style.setProperty('--aspect', `${camera.width} / ${camera.height}`);
      tile.state.textContent = camera.online ? `${camera.width}×${camera.height} · ${camera.fps} fps` : 'offline';
    }
  } catch (error) {
    status.textContent = `cannot list cameras (${error instanceof Error ? error.message : String(error)}), retrying…`;
  }
  refreshStreams();
}

document.addEventListener('visibilitychange', refreshStreams);
window.addEventListener('pagehide', () => {
  for (const tile of tiles.values()) stopStream(tile);
});
window.addEventListener('pageshow', refreshStreams);
void loadCameras();
setInterval(() => void loadCameras(), 5000);
setInterval(refreshSnapshots, SNAPSHOT_EVERY_MS);
setInterval(watchStreams, WATCH_EVERY_MS);

/**
 * The `token` of a `#token=…` fragment, read by hand: URLSearchParams reads "+" as a space, and
 * tokens may hold "+" and "/" (`openssl rand -base64 24` makes such tokens).
 */
function tokenInFragment(hash: string): string | null {
  for (const pair of hash.slice(1).split('&')) {
    const equals = pair.indexOf('=');
    if (equals > 0 && pair.slice(0, equals) === 'token') {
      try {
        return decodeURIComponent(pair.slice(equals + 1)) || null;
      } catch {
        return null;
      }
    }
  }
  return null;
}
