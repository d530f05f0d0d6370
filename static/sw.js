// convlens offline support. After the first visit every file of the app (the page, both wasm
// builds, the bundled models except the large EfficientNet, samples and the dataset) is kept in
// the browser's cache, so a class can use the site with no network. Of the CPU worker's two
// builds, only the one this browser runs is kept: the relaxed-SIMD one where a probe module
// validates (as the page decides, src/ui/worker_link.rs), else the plain one. Files fetched later (the
// EfficientNet model) are kept as they come. The lists below are written at build time by
// scripts/sw_manifest.py; a new build gets a new cache and the old one is deleted.
const VERSION = 'SW_VERSION';
const PRECACHE = SW_PRECACHE;
const CACHE = `convlens-${VERSION}`;
// Trunk names the app's own files by their content hash: they never change, so the cache answers.
const HASHED = /-[0-9a-f]{16}(_bg)?\.(js|wasm|css)$/;

// A module whose one function is `f32x4.relaxed_madd` (the page's RELAXED_PROBE).
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0,
  10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11]);

function precacheList() {
  const relaxedBuilt = PRECACHE.includes('worker-relaxed_bg.wasm');
  let relaxed = false;
  try { relaxed = relaxedBuilt && WebAssembly.validate(RELAXED_PROBE); } catch (e) { relaxed = false; }
  const plain = ['worker.js', 'worker_bg.wasm'];
  return PRECACHE.filter((f) => (relaxed ? !plain.includes(f) : !f.startsWith('worker-relaxed')));
}

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(precacheList())).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('convlens-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function fromCache(request) {
  const cache = await caches.open(CACHE);
  return cache.match(request, { ignoreSearch: request.mode === 'navigate' });
}

// Everything else: the network first (so a new build shows at once), the cache when offline.
async function networkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(request, copy));
    }
    return response;
  } catch (offline) {
    const cached = (await fromCache(request)) ?? (request.mode === 'navigate' ? await fromCache(new Request('./')) : undefined);
    if (cached) return cached;
    throw offline;
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (HASHED.test(url.pathname)) {
    event.respondWith(fromCache(request).then((hit) => hit ?? networkFirst(request)));
  } else {
    event.respondWith(networkFirst(request));
  }
});
