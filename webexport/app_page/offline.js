/**
 * Make this page work offline: register the service worker sw.js beside this file (webexport.app.make_offline
 * writes both), which caches the page, the runtime, model.json and the weights.
 *
 * Load it from the page with `<script type="module" src="offline.js"></script>`. When a newer export takes over
 * an open page (the browser found a new sw.js on this visit), the page reloads once, so it never mixes files of
 * two exports. `window.pymlOffline` tells tests and the curious where things stand:
 * `await window.pymlOffline.ready` resolves to `{version, cache, files}` once a service worker controls the
 * page, its cache complete (or to null where the browser has no service workers: http:// other than localhost).
 *
 * @example
 *   const { version } = await window.pymlOffline.ready;
 */
const state = { version: null, cache: null, files: 0, error: null, ready: null };
window.pymlOffline = state;
state.ready = register().catch((error) => {
  state.error = error.message;
  console.warn(`pyml offline: the service worker did not start, so this page needs the network: ${error.message}`);
  return null;
});

async function register() {
  if (!("serviceWorker" in navigator)) return null;
  const workers = navigator.serviceWorker;
  const hadController = Boolean(workers.controller);
  workers.addEventListener("controllerchange", () => { if (hadController) location.reload(); });
  await workers.register(new URL("sw.js", import.meta.url));
  if (!workers.controller) {
    await new Promise((resolve) => workers.addEventListener("controllerchange", resolve, { once: true }));
  }
  const reply = await new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    workers.controller.postMessage("pyml-offline-version", [channel.port2]);
  });
  Object.assign(state, reply);
  return reply;
}
