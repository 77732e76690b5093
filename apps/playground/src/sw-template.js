// The playground's service worker (written into the build by vite.config.ts).
// The page's own files are cached on install; the large files used only by
// some experiments (the MNIST digit chunks, the wasm variants: LAZY) are
// cached the first time they are fetched. Everything is served from the
// cache first (Vary ignored: module scripts are requested with an Origin
// header, the precache without), so the page works offline once it has
// loaded, with whatever it has used.
const CACHE = __CACHE__;
const FILES = __FILES__;
const LAZY = __LAZY__;

const known = new Set([...FILES, ...LAZY].map((f) => new URL(f, self.registration.scope).href));

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  if (event.request.method !== 'GET') return;
  const url = new URL(event.request.url);
  url.search = '';
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(event.request, { ignoreSearch: true, ignoreVary: true });
      if (hit) return hit;
      const response = await fetch(event.request);
      if (response.ok && known.has(url.href)) await cache.put(url.href, response.clone());
      return response;
    }),
  );
});
