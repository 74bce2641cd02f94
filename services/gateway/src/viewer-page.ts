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
export const VIEWER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>camrelay</title>
<style>
  :root { color-scheme: dark; font-family: system-ui, sans-serif; }
  body { margin: 0; background: #111; color: #eee; }
  header { padding: .6rem 1rem; display: flex; gap: 1rem; align-items: baseline; }
  h1 { font-size: 1.1rem; margin: 0; }
  #status { color: #999; font-size: .85rem; }
  main { display: grid; gap: .75rem; padding: 0 1rem 1rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); }
  figure { margin: 0; background: #000; border-radius: 6px; overflow: hidden; }
  figure img { display: block; width: 100%; aspect-ratio: var(--aspect, 4 / 3); object-fit: contain; background: #222; }
  figcaption { display: flex; justify-content: space-between; padding: .35rem .6rem; font-size: .85rem; }
  .offline figcaption .state { color: #f66; }
  .state { color: #6c6; }
  #login { display: none; padding: 1rem; gap: .5rem; align-items: center; }
  #login.shown { display: flex; flex-wrap: wrap; }
  #login input { min-width: 18rem; padding: .4rem; }
</style>
</head>
<body>
<header><h1>camrelay</h1><span id="status">loading cameras…</span></header>
<form id="login"><label for="token">Access token</label><input id="token" type="password" autocomplete="current-password" required><button>Show cameras</button></form>
<main id="cameras"></main>
<script type="module">
const MAX_LIVE = 4;
const SNAPSHOT_EVERY_MS = 2000;
const STALL_MS = 2500;
const WATCH_EVERY_MS = 500;
const probe = document.createElement('canvas');
probe.width = 64;
probe.height = 48;
const probeContext = probe.getContext('2d', { willReadFrequently: true });
const grid = document.getElementById('cameras');
const status = document.getElementById('status');
const tiles = new Map();
const login = document.getElementById('login');
const TOKEN_KEY = 'camrelay-token';
// A link may carry the token in its fragment, which is never sent to a server; keep it for
// this tab and take it out of the address bar.
const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromLink) {
  sessionStorage.setItem(TOKEN_KEY, fromLink);
  history.replaceState(null, '', location.pathname + location.search);
}
login.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
  login.classList.remove('shown');
  loadCameras();
});

/** A camera URL from the API, made unique so the browser opens a new connection. */
function fresh(url) {
  const unique = new URL(url, location.href);
  unique.searchParams.set('t', String(Date.now()));
  return unique.pathname + unique.search;
}

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) tiles.get(entry.target.dataset.id).visible = entry.isIntersecting;
  refreshStreams();
});

function tileFor(camera) {
  let tile = tiles.get(camera.id);
  if (tile) return tile;
  const figure = document.createElement('figure');
  figure.dataset.id = camera.id;
  const img = document.createElement('img');
  img.alt = 'camera ' + camera.id;
  img.decoding = 'async';
  const caption = document.createElement('figcaption');
  caption.innerHTML = '<span class="name"></span><span class="state"></span>';
  caption.querySelector('.name').textContent = camera.id;
  figure.append(img, caption);
  grid.append(figure);
  tile = { id: camera.id, figure, img, caption, visible: false, live: false, retry: 0, sample: '', changedAt: 0 };
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

function startStream(tile) {
  tile.live = true;
  tile.changedAt = performance.now();
  // A fresh URL each time, so the browser opens a new connection rather than reusing an ended one.
  tile.img.src = fresh(tile.streamUrl);
}

/** A short fingerprint of what the tile shows now, or '' when it cannot be read. */
function sampleOf(img) {
  if (!img.naturalWidth) return '';
  try {
    probeContext.drawImage(img, 0, 0, probe.width, probe.height);
    const pixels = probeContext.getImageData(0, 0, probe.width, probe.height).data;
    let hash = 0;
    for (let i = 0; i < pixels.length; i += 4) hash = (Math.imul(hash, 31) + pixels[i] + (pixels[i + 1] << 8) + (pixels[i + 2] << 16)) | 0;
    return String(hash);
  } catch {
    return ''; // unreadable (cross-origin): counts as no picture
  }
}

function watchStreams() {
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

function stopStream(tile) {
  tile.live = false;
  tile.img.src = '';
}

function refreshStreams() {
  const hidden = document.visibilityState === 'hidden';
  let live = 0;
  for (const tile of tiles.values()) {
    const wanted = !hidden && tile.visible && live < MAX_LIVE;
    if (wanted) live++;
    if (wanted && !tile.live) startStream(tile);
    if (!wanted && tile.live) stopStream(tile);
  }
}

function refreshSnapshots() {
  if (document.visibilityState === 'hidden') return;
  for (const tile of tiles.values()) {
    if (!tile.live && tile.visible && tile.online) tile.img.src = fresh(tile.snapshotUrl);
  }
}

async function loadCameras() {
  try {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const response = await fetch('/api/cameras', { cache: 'no-store', headers: token ? { Authorization: 'Bearer ' + token } : {} });
    if (response.status === 401) {
      status.textContent = token ? 'that token was not accepted' : 'an access token is needed';
      login.classList.add('shown');
      return;
    }
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const cameras = await response.json();
    status.textContent = cameras.length + (cameras.length === 1 ? ' camera' : ' cameras');
    for (const camera of cameras) {
      const tile = tileFor(camera);
      tile.online = camera.online;
      tile.streamUrl = camera.streamUrl;
      tile.snapshotUrl = camera.snapshotUrl;
      tile.figure.classList.toggle('offline', !camera.online);
      if (camera.width && camera.height) tile.figure.style.setProperty('--aspect', camera.width + ' / ' + camera.height);
      tile.caption.querySelector('.state').textContent = camera.online
        ? camera.width + '×' + camera.height + ' · ' + camera.fps + ' fps'
        : 'offline';
    }
  } catch (error) {
    status.textContent = 'cannot list cameras (' + error.message + '), retrying…';
  }
  refreshStreams();
}

document.addEventListener('visibilitychange', refreshStreams);
window.addEventListener('pagehide', () => { for (const tile of tiles.values()) stopStream(tile); });
window.addEventListener('pageshow', refreshStreams);
loadCameras();
setInterval(loadCameras, 5000);
setInterval(refreshSnapshots, SNAPSHOT_EVERY_MS);
setInterval(watchStreams, WATCH_EVERY_MS);
</script>
</body>
</html>
`;
