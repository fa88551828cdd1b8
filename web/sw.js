// sw — Hearth's service worker: the pages open from the home screen, and show even while the
// box is unreachable. It caches the static pages only (web/: html, js, css, the icon and the
// manifest): nothing under /api/ ever goes through it or into its cache, so no cache holds a
// frame, an event or a device list (docs/design/auth.md "Web pages"). Network first: a page
// from the cache is used only when the network fails, so an update is seen at the next load.

const CACHE = 'hearth-static-v5';
const STATIC = ['/index.html', '/camera.html', '/events.html', '/multi.html', '/pair.html',
                '/devices.html', '/cameras.html', '/health.html', '/js/admin.js',
                '/js/admin_core.js', '/js/cameras.js', '/js/devices.js', '/js/health.js',
                '/css/hearth.css', '/favicon.svg', '/manifest.webmanifest', '/js/api.js',
                '/js/app.js', '/js/camera.js', '/js/daydata.js', '/js/events.js',
                '/js/hlsplay.js', '/js/index.js', '/js/keys.js', '/js/live.js', '/js/multi.js',
                '/js/pair.js', '/js/proto.js', '/js/review.js', '/js/review_core.js',
                '/js/timeline.js', '/js/ui.js'];

// Only same-origin GETs of the static files are ours; everything else (the API, media, other
// methods) is left to the browser as if there were no service worker.
function isStatic(request) {
  if (request.method !== 'GET') return false;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return false;
  if (url.pathname.startsWith('/api/')) return false;
  return url.pathname === '/' || STATIC.includes(url.pathname);
}

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(STATIC)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys())
      if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  if (!isStatic(event.request)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(event.request);
      if (res.ok && res.type === 'basic') await cache.put(event.request, res.clone());
      return res;
    } catch (e) {
      const url = new URL(event.request.url);
      const cached = await cache.match(url.pathname === '/' ? '/index.html' : url.pathname);
      if (cached) return cached;
      throw e;
    }
  })());
});
