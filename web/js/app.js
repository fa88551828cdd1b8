// app — what every page does once: registers the service worker (web/sw.js), which caches the
// static pages only, so Hearth opens from the home screen as an app. A browser without service
// workers (or a page not on https) just goes without.

if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    // Offline caching is a convenience: the pages work the same without it.
  });
}
