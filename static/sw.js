// convlens offline support. After the first visit every file of the app (the page, both wasm
// builds, the bundled models except the large EfficientNet, samples and the dataset) is kept in
// the browser's cache, so a class can use the site with no network. Files fetched later (the
// EfficientNet model) are kept as they come. The lists below are written at build time by
// scripts/sw_manifest.py; a new build gets a new cache and the old one is deleted.
const VERSION = 'SW_VERSION';
const PRECACHE = SW_PRECACHE;
const CACHE = `convlens-${VERSION}`;
// Trunk names the app's own files by their content hash: they never change, so the cache answers.
const HASHED = /-[0-9a-f]{16}(_bg)?\.(js|wasm|css)$/;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
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
