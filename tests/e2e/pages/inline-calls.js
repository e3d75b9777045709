// The page's own calls, from a file: under inline-csp.html's policy no other inline script runs.
analytics.identify("u-inline", { plan: "basic" });
analytics.track("Inline", { early: true });
analytics.ready(function () { window.inlineReady = performance.now(); });
window.loadedAt = null;
addEventListener("load", function () { window.loadedAt = performance.now(); });
