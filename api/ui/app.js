// Placeholder until the dashboard lands: says whether this browser has a session.
"use strict";
fetch("/session", { credentials: "same-origin" }).then((response) => {
  document.getElementById("app").textContent =
    response.ok ? "Signed in." : "Not signed in.";
});
