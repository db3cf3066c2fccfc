// Placeholder: the real web UI replaces this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("status");
  if (status) status.textContent = "The chat is on its way.";
});
