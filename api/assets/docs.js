// The key form above Swagger UI (a file, not inline: the page runs under a CSP without inline
// scripts). A browser signed in to the dashboard loads the document with its session cookie;
// otherwise the key typed here is kept in this page's memory only, never in the browser's
// storage, and sent as X-API-Key.
"use strict";
const input = document.getElementById("key");
const status = document.getElementById("key-status");
function load(key) {
  status.textContent = "loading /openapi.json ...";
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    requestInterceptor: (request) => {
      if (key && !request.headers["X-API-Key"] && !request.headers["Authorization"]) {
        request.headers["X-API-Key"] = key;
      }
      return request;
    },
    onComplete: () => { status.textContent = "loaded"; },
  });
}
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  load(input.value.trim());
});
fetch("/session", { credentials: "same-origin" })
  .then((response) => (response.ok ? response.json() : null))
  .then((session) => {
    if (session) {
      status.textContent = `signed in to the dashboard as ${session.name}`;
      load(null);
    } else {
      status.textContent = "type the key to load the document";
    }
  })
  .catch(() => { status.textContent = "type the key to load the document"; });
