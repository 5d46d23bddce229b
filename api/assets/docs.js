// The key form above Swagger UI (a file, not inline: the page runs under a CSP without
// inline scripts).
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
  const key = input.value.trim();
  sessionStorage.setItem("exporter-api-key", key);
  load(key);
});
const saved = sessionStorage.getItem("exporter-api-key");
if (saved) { input.value = saved; load(saved); }
else { status.textContent = "type the key to load the document"; }
