// The service worker: lets the app start with no network after a first visit.
//
// Strategy: network first, cache as fallback, for every GET of this origin except the
// API. Online, each load fetches the current files (so a new version is picked up on
// the next load) and refreshes the cache; offline, the cached copies answer.
//
// On install it caches the app shell: index.html and every file it names (Trunk's
// app-<hash>.js, _bg.wasm and .css, which the page and its sync worker share, the
// settings, the manifest, the icon). The page that registers this worker has just
// downloaded those files, so they are fetched with `cache: "no-cache"`: the browser
// revalidates the copy in its HTTP cache (the server answers 304, without a body)
// rather than downloading everything a second time.
const CACHE = "boards-shell-v2";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const index = await fetch("./", { cache: "no-cache" });
    const html = await index.clone().text();
    const referenced = [...html.matchAll(/(?:href|src)="([^"]+)"/g)]
      .map((match) => match[1])
      .filter((url) => !url.startsWith("http") && !url.startsWith("data:"));
    // The app answers at "./" and at "index.html" (and, offline, at any other path).
    await cache.put("./", index.clone());
    await cache.put("index.html", index);
    await Promise.all([...new Set(["config.json", ...referenced])].map(async (url) => {
      try {
        const response = await fetch(url, { cache: "no-cache" });
        if (response.ok) await cache.put(url, response);
      } catch (_) { /* a missing optional file must not fail the install */ }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) {
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) cache.put(request, response.clone());
      return response;
    } catch (error) {
      const cached = await cache.match(request, { ignoreSearch: true })
        // Any path of the single-page app is the app shell.
        || (request.mode === "navigate" ? await cache.match("index.html") : undefined);
      if (cached) return cached;
      throw error;
    }
  })());
});
