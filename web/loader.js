/*! Visitrail loader | MIT */
// The page's only script: <script src="https://collector/analytics/loader.js" data-write-key="...">.
// It installs a window.analytics stub that queues calls, then, once the page has loaded, starts
// the Python runtime data-runtime names (PyScript + MicroPython, PyScript + Pyodide or Brython) on
// visitrail/boot.py, which replays the queue and calls _ready().
// No product rules live here. build.py minifies it (comments, whitespace) and bakes in the list of
// SDK modules. Calls queued here replay in order; a page left before boot saves them for the next.
(function (w, d) {
  var a = w.analytics, s = d.currentScript, P = "[visitrail] ";
  // A second copy of this script on the page: the first one owns window.analytics.
  if (a && a._vt) return;
  // An inline snippet (for an async tag) may have queued [method, args, time] entries already.
  var prev = a && a.length ? a : [];
  var q = [], py, pf, flushes = [], readies = [], full, failed;
  var V = /*MANIFEST*/0; // [version, [module, ...]]
  var base = new URL(".", s.src).href;
  var M = "identify track page group alias reset rotate setAnonymousId debug".split(" ");

  a = w.analytics = { _vt: 1, _q: q };
  a._o = JSON.stringify(Object.assign({ base: base }, s.dataset));

  // Consent and privacy signals are read here because the stub itself must store and send nothing
  // without consent. The choice persists (localStorage visitrail_consent), as the SDK reads it.
  function load(k) {
    try { return localStorage.getItem(k); } catch (e) {}
  }
  function store(k, v) {
    try { localStorage.setItem(k, v); } catch (e) {}
  }
  var data = s.dataset, n = navigator;
  var consent = load("visitrail_consent") || data.consent || "granted";
  // data-respect-dnt: with Do Not Track or Global Privacy Control on, the SDK never starts.
  var inert = /^(true|1|yes)$/i.test(data.respectDnt || "") && (n.doNotTrack == "1" || n.globalPrivacyControl === true);

  function page() {
    var l = location;
    return { path: l.pathname, url: l.href.replace(/#.*/, ""), title: d.title, referrer: d.referrer, search: l.search };
  }

  // A UUID v4. randomUUID exists only in secure contexts; plain http builds one from random bytes.
  function uuid() {
    var c = w.crypto;
    return c.randomUUID ? c.randomUUID() : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, function (x) {
      return (x ^ c.getRandomValues(new Uint8Array(1))[0] & 15 >> x / 4).toString(16);
    });
  }

  // A JSON-able copy of a value. What JSON cannot carry (a function, a DOM node, a cycle, a
  // BigInt) becomes {__unserialisable__: kind}, for the SDK to drop and report (calls.py).
  function copy(v, seen) {
    var t = typeof v, o, k;
    if (t == "function" || t == "bigint" || t == "symbol") return { __unserialisable__: t };
    if (!v || t != "object") return v;
    if (v.toJSON) return v.toJSON();
    if (v.nodeType || v.window == v) return { __unserialisable__: "node" };
    if (seen.indexOf(v) >= 0 || seen.length > 32) return { __unserialisable__: "cycle" };
    seen.push(v);
    if (Array.isArray(v)) o = v.map(function (x) { return copy(x, seen); });
    else for (k in (o = {}, v)) if (Object.prototype.hasOwnProperty.call(v, k)) o[k] = copy(v[k], seen);
    seen.pop();
    return o;
  }

  // One call from the page. Arguments are copied at call time, so later changes to the page's
  // objects do not change the event; a function argument (a callback) is dropped. Never throws.
  function call(m, args, t) {
    var j;
    if (inert) return;
    try {
      j = JSON.stringify(copy([].filter.call(args, function (x) { return typeof x != "function"; }), []));
    } catch (e) {
      return console.error(P + m + "(): its arguments could not be read: " + e);
    }
    if (py) {
      try {
        return JSON.parse(py(m, j) || "null");
      } catch (e) {
        return console.error(P + m + "(): " + e);
      }
    }
    if (q.length >= 1000) {
      if (!full) console.warn(P + "1000 calls queued before the SDK started; dropping the rest");
      full = 1;
      return;
    }
    q.push([m, JSON.parse(j), t || Date.now(), uuid(), page()]);
  }

  M.forEach(function (m) {
    a[m] = function () { return call(m, arguments); };
  });

  function get(m) {
    return function () { return py ? call(m, []) : null; };
  }
  a.user = function () {
    return { anonymousId: get("user.anonymousId"), id: get("user.id"), traits: get("user.traits") };
  };
  a.session = function () {
    return { id: get("session.id") };
  };

  // Resolves once everything queued so far is acknowledged by the collector (or given up).
  a.flush = function () {
    return new Promise(function (r) { py ? pf(r) : flushes.push(r); });
  };

  // ready(cb) and `await analytics.ready()`, before or after boot; cb runs in its own task.
  a.ready = function (cb) {
    return new Promise(function (r) {
      function f() { r(); cb && cb(); }
      readies ? readies.push(f) : setTimeout(f);
    });
  };

  // Called by boot.py last, after it has replayed a._q: c(method, argsJSON) -> resultJSON,
  // f(done) calls done(ok) once flushed.
  a._ready = function (c, f) {
    py = c;
    pf = f;
    a._q = q = 0;
    flushes.forEach(function (r) { f(r); });
    readies.forEach(function (r) { setTimeout(r); });
    flushes = readies = 0;
  };

  // For the platform's JS calls that may throw (blocked storage, a bad URL): on MicroPython a JS
  // exception does not become a Python one, it unwinds through the interpreter. Returns [o[p]],
  // or [o[p](x, y, z)] when that is a function, or the error as a string.
  a._x = function (o, p, x, y, z) {
    try {
      var v = o[p];
      return [typeof v == "function" ? v.call(o, x, y, z) : v];
    } catch (e) {
      return "" + e;
    }
  };

  // For the platform's "navigate" event: history methods are wrapped here, in JS (see
  // platforms/web.py). cb(pageJSON) runs in its own task, with the page as it was at the
  // navigation: two quick pushState calls are two different pages.
  a._nav = function (cb) {
    function n() {
      var p = JSON.stringify(page());
      setTimeout(function () { cb(p); });
    }
    ["pushState", "replaceState"].forEach(function (k) {
      var f = history[k];
      history[k] = function () {
        var r = f.apply(this, arguments);
        n();
        return r;
      };
    });
    w.addEventListener("popstate", n);
  };

  for (var i = 0; i < prev.length; i++) {
    var e = prev[i];
    M.indexOf(e[0]) < 0 ? a[e[0]] && a[e[0]].apply(a, e[1]) : call(e[0], e[1], e[2]);
  }

  a.consent = {};
  ["grant", "deny"].forEach(function (m) {
    a.consent[m] = function () {
      consent = m == "grant" ? "granted" : "denied";
      store("visitrail_consent", consent);
      call("consent." + m, []);
    };
  });

  // Leaving before the SDK is up (pagehide, or hidden: mobile browsers may never fire pagehide):
  // 1. keep the queued calls for the next page of this site, whose boot replays them (boot.py);
  // 2. send them now, as they are, to the collector's /v1/calls, which builds the events with the
  //    SDK's own code: the visitor who never comes back is not lost. Same messageIds both ways, so
  //    the collector stores each call once. Nothing of this without consent.
  function save() {
    var memory = data.idStorage == "memory", sent = {}, body;
    if (py || !q.length || consent != "granted") return;
    var aid = load("visitrail_aid") || (/(?:^|; )visitrail_aid=([^;]*)/.exec(d.cookie) || [])[1];
    if (!aid) {
      aid = uuid();
      memory || store("visitrail_aid", aid);  // the SDK adopts it at the next boot
    }
    var user = {};
    try { user = JSON.parse(load("visitrail_user")) || {}; } catch (e) {}
    if (!memory) {
      var old = [];
      try { old = JSON.parse(load("visitrail_calls")) || []; } catch (e) {}
      q.forEach(function (c) { sent[c[3]] = 1; });
      store("visitrail_calls", JSON.stringify(old.filter(function (c) { return !sent[c[3]]; }).concat(q).slice(-1000)));
    }
    var calls = q.filter(function (c) { return !c.b; });
    while (calls.length) {
      body = JSON.stringify({ writeKey: data.writeKey, anonymousId: aid, userId: user.id || null,
        identityToken: user.token || data.identityToken || null, sessionTimeout: +data.sessionTimeout || null,
        environment: { locale: n.language, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone },
        session: load("visitrail_session") || null, sentAt: new Date().toISOString(), calls: calls });
      if (body.length < 6e4) break;
      calls = calls.slice(0, calls.length >> 1);  // beacons are capped at 64 KB: the first calls go now
    }
    var url = (data.endpoint || base.split("/").slice(0, 3).join("/")).replace(/\/$/, "") + "/v1/calls";
    if (calls.length && (n.sendBeacon && n.sendBeacon(url, body) ||
        w.fetch && fetch(url, { method: "POST", body: body, keepalive: true, credentials: "omit" }).catch(function () {})))
      calls.forEach(function (c) { c.b = 1; });
  }
  w.addEventListener("pagehide", save);
  d.addEventListener("visibilitychange", function () { d.visibilityState == "hidden" && save(); });

  function fail() {
    failed || console.warn(P + "the SDK runtime did not start; calls stay queued");
    failed = 1;
  }

  function el(tag, attrs, text) {
    var e = d.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return d.head.appendChild(e);
  }

  // Only the runtime named by data-runtime is fetched: "mpy" (PyScript + MicroPython, the
  // default), "py" (PyScript + Pyodide) or "brython". Each ends in `import visitrail.boot`.
  function boot() {
    var r = data.runtime || "mpy", v = "?v=" + V[0];
    // A runtime file that fails to load (a 404) is not always reported: Pyodide swallows a wasm
    // that does not instantiate, and waits for ever. Resource Timing sees its status.
    try {
      new PerformanceObserver(function (l) {
        l.getEntries().forEach(function (e) {
          if (!py && e.name.indexOf(base) == 0 && e.responseStatus >= 400) fail();
        });
      }).observe({ type: "resource", buffered: true });
    } catch (e) {}
    if (r == "brython") return brython(v);
    if (r == "mpy" || r == "py") return pyscript(r, v);
    console.warn(P + 'data-runtime="' + r + '" is not mpy, py or brython: calls stay queued');
    failed = 1;
  }

  // PyScript reads each type's config once, when core.js is evaluated: our script and its config
  // go in first. The other type gets a config too, only to keep PyScript's plugins out (without
  // "!error" it would paint Python tracebacks into the page). The SDK's modules are written into
  // the interpreter's file system from the config's `files`: MicroPython bytecode (.mpy) or
  // Python sources for Pyodide.
  function pyscript(r, v) {
    var X = ["!error", "!py-editor", "!py-game", "!py-terminal", "!donkey", "!deprecations-manager", "!codemirror"];
    var o = r == "py" ? "mpy" : "py", x = r == "py" ? ".py" : ".mpy", files = {}, code = "import visitrail.boot";
    var live = Symbol.for("@pyscript/core") in w, own = d.querySelector(r + "-config,script[type=" + r + "][config]");
    // A page that runs PyScript itself: a second config for this type would stop the page's
    // Python ("Unable to use different configs"), and once core.js has run it would be ignored.
    // The SDK joins the page's interpreter instead and writes its modules itself.
    if (live || own) {
      console.info(P + "this page runs PyScript (" + r + ") of its own: the SDK runs in the page's " + r +
        " interpreter, under the page's config");
      return Promise.all(V[1].map(function (m) {
        return fetch(base + "visitrail/" + m + ".py" + v).then(function (f) {
          if (!f.ok) throw Error(f.url + ": HTTP " + f.status);
          return f.text();
        }).then(function (t) { return ["visitrail/" + m + ".py", t]; });
      })).then(function (src) {
        a._src = JSON.stringify(src);
        start(r, {}, JOIN + code);
        if (!live) el("script", { type: "module", src: base + "pyscript/core.js" }).onerror = fail;
      }, fail);
    }
    V[1].forEach(function (m) { files[base + "visitrail/" + m + x + v] = "./visitrail/" + m + x; });
    d.querySelector(o + "-config," + o + "-script,script[type=" + o + "]") ||
      el(o + "-config", {}, JSON.stringify({ plugins: X }));
    start(r, {
      config: JSON.stringify({
        interpreter: base + (r == "py" ? "pyodide/pyodide.mjs" : "micropython/micropython.mjs"), files: files, plugins: X
      })
    }, code);
    el("script", { type: "module", src: base + "pyscript/core.js" }).onerror = fail;
    // A runtime file that fails to load (404, CSP) surfaces as a rejection inside PyScript: ours
    // when it names our files. Warn once instead of leaving an uncaught error in the host page.
    w.addEventListener("unhandledrejection", function (e) {
      var r = e.reason;
      if (!py && String(r && r.stack || r).indexOf(base) >= 0) {
        e.preventDefault();
        fail();
      }
    });
  }

  // Python that writes the SDK's modules (a._src: [[path, text], ...]) where the page's
  // interpreter imports from, before `import visitrail.boot`. Names stay out of the page's globals.
  var JOIN = "def _vt():\n import json, os\n from pyscript import window\n" +
    " for p, t in json.loads(window.analytics._src):\n  d = ''\n  for n in p.split('/')[:-1]:\n" +
    "   d += n\n   try:\n    os.mkdir(d)\n   except OSError:\n    pass\n   d += '/'\n" +
    "  with open(p, 'w') as f:\n   f.write(t)\n window.analytics._src = ''\n_vt()\ndel _vt\n";

  // target: its own id, so PyScript adds no output element to the page.
  function start(r, attrs, code) {
    var id = "visitrail-boot";
    attrs.type = r;
    attrs.id = attrs.target = id;
    el("script", attrs, code).addEventListener(r + ":done", function () { py || fail(); });
  }

  // Brython compiles Python to JS and evals it: brython.min.js, then the bundle (the SDK and the
  // few stdlib modules it needs, so Brython fetches no module), run in that order; then
  // brython(), then the entry script: a text/python script added before brython() is never run.
  // A page that runs Brython itself keeps its own (it calls brython() on load, which also runs
  // the entry script); the bundle leaves the page's own stdlib modules alone.
  function brython(v) {
    var B = w.__BRYTHON__, n = B ? 1 : 2;
    try {
      Function("");
    } catch (e) {
      return fail();  // a CSP without 'unsafe-eval'
    }
    B && console.info(P + "this page runs Brython of its own: the SDK runs in it");
    a._d = function () { py || fail(); };
    function go() {
      if (--n) return;
      if (!w.__BRYTHON__) return fail();
      B || w.brython({ debug: 0, indexeddb: 0 });
      el("script", { type: "text/python", id: "visitrail_boot" },
        "from browser import window\ntry:\n    import visitrail.boot\nfinally:\n    window.analytics._d()\n");
    }
    [B ? 0 : base + "brython/brython.min.js", base + "brython/visitrail.js" + v].forEach(function (u) {
      if (!u) return;
      var e = d.createElement("script");
      e.src = u;
      e.async = false;  // executed in order
      e.onload = go;
      e.onerror = fail;
      d.head.appendChild(e);
    });
  }

  if (inert) {
    console.info(P + "Do Not Track / Global Privacy Control is on: nothing is stored or sent");
    readies.forEach(function (r) { setTimeout(r); });
    readies = 0;
    a.flush = function () { return Promise.resolve(true); };
  } else {
    d.readyState == "complete" ? boot() : w.addEventListener("load", boot);
  }
})(window, document);
