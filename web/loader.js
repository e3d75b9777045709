// The page's only script: <script src="https://collector/analytics/loader.js" data-write-key="...">.
// It installs a window.analytics stub that queues calls, and once the page has loaded fetches
// runtime.js (versioned, cached for good), which starts the Python runtime data-runtime names on
// sdk/visitrail/browser/boot.py; boot.py replays the queue and calls _ready().
// Only what a page needs before the SDK is up lives here: every byte of this file is paid by every
// page view, before the page renders. No product rules live here either. build.py minifies it
// (terser) and bakes in the build's version. ES2017: every browser that runs WebAssembly has it.
//
// build.py also makes the inline snippet (web/dist/inline.js, INLINE true) from this file: the same
// stub, pasted into the page's HTML as <script data-loader=".../loader.js" data-write-key="...">,
// so that the page makes no request for it. It fetches loader.js after `load` (the URL with the
// current version), which finds the stub and hands it that version (_go). A pasted stub outlives
// releases: what it shares with runtime.js and boot.py (below) only grows.
//
// window.analytics' private members, the protocol between this file, runtime.js and boot.py (a
// loader.js cached for 5 minutes may meet a newer runtime.js: keep them compatible for a release):
//   _vt   1: this object is Visitrail's (a second tag, and the page-Python bridge, check it)
//   _q    the queued calls, [method, args, timeMs, messageId, page], until boot.py took them (then 0)
//   _ap   1: _q[0] is the automatic page view, queued here as the tag ran (boot.py makes none then)
//   _o    the tag's data-* attributes and `base` (the loader's folder), as JSON, for boot.py
//   _v    the versioned base URL of runtime.js and every runtime file
//   _go   (version) the inline snippet's: starts the runtime of that version (loader.js calls it)
//   _p    () -> the page now {path, url, title, referrer, search}; runtime.js's too
//   _ready(call, flush)   boot.py hands over the SDK: call(method, argsJSON) -> resultJSON
//   _f    the runtime did not start: warn once
//   _b    1: boot.py is replaying the queue               set by runtime.js:
//   _d    the entry script ran: _f() unless _ready came   _x  a JS call, its exception caught (ffi.py)
//   _nav  (cb) -> cb(pageJSON) on every history navigation   _src  module sources (a page's own PyScript)
//   _sd   (reset) -> Page Left's scroll depth, 0-100
((w, d) => {
  let a = w.analytics, s = d.currentScript, P = "[visitrail] ", n = navigator, V = /*VERSION*/0;
  // A second copy of this script on the page: the first one owns window.analytics. An inline
  // snippet's stub may be waiting for this file's version.
  if (a && a._vt) return INLINE || a._go && a._go(V);
  // A snippet (for an async tag) may have queued [method, args, time] entries already.
  let prev = a && a.length ? a : [], q = [], py, pf, flushes = [], readies = [], full, failed;
  let data = s.dataset, src = INLINE ? data.loader : s.src, base = src ? new URL(".", src).href : "";
  let M = "identify track page group alias reset rotate setAnonymousId debug".split(" ");

  a = w.analytics = { _vt: 1, _q: q };
  a._o = JSON.stringify(Object.assign({ base }, data));

  // Consent and privacy signals are read here because the stub itself must store and send nothing
  // without consent. The choice persists (localStorage visitrail_consent), as the SDK reads it.
  let load = (k) => {
    try { return localStorage.getItem(k); } catch (e) {}
  };
  let store = (k, v) => {
    try { localStorage.setItem(k, v); } catch (e) {}
  };
  let parse = (k) => {
    try { return JSON.parse(load(k)); } catch (e) {}
  };
  // Read when needed (at pagehide), not here: a page's first localStorage access is a synchronous
  // load of its storage from the browser process, which would delay the page.
  let consent, granted = () => (consent = consent || load("visitrail_consent") || data.consent || "granted") == "granted";
  // data-respect-dnt: with Do Not Track or Global Privacy Control on, the SDK never starts. A flag is
  // on when present, unless "false", "0", "no" or "off": core/options.py's rule for every flag.
  let off = (v) => /^\s*(false|0|no|off)\s*$/i.test(v), dnt = data.respectDnt;
  let inert = dnt != null && !off(dnt) && (n.doNotTrack == "1" || n.globalPrivacyControl === true);

  // Also runtime.js's, for the page of a single-page-app navigation.
  a._p = (l = location) =>
    ({ path: l.pathname, url: l.href.replace(/#.*/, ""), title: d.title, referrer: d.referrer, search: l.search });

  // A random UUID v4; randomUUID exists only in secure contexts: plain http builds one from random bytes.
  let c = w.crypto, uuid = () => c.randomUUID ? c.randomUUID() : "10000000-1000-4000-8000-100000000000".replace(
    /[018]/g, (x) => (x ^ c.getRandomValues(new Uint8Array(1))[0] & 15 >> x / 4).toString(16));

  // The call's arguments as JSON, callbacks left out. What JSON cannot carry (a function, a DOM
  // node, a cycle, a BigInt) becomes {__unserialisable__: kind}, for the SDK to drop and report
  // (calls.py). `up` holds the objects being written around the current value (its ancestors).
  let json = (args, up = []) => JSON.stringify(args.filter((x) => typeof x != "function"), function (k, v) {
    let t = typeof v, bad = (kind) => ({ __unserialisable__: kind });
    while (up.length && up[up.length - 1] != this) up.pop();
    if (t == "function" || t == "bigint" || t == "symbol") return bad(t);
    if (v && t == "object") {
      if (v.nodeType || v.window == v) return bad("node");
      if (up.includes(v) || up.length > 32) return bad("cycle");
      up.push(v);
    }
    return v;
  });

  // One call from the page. Arguments are copied at call time, so later changes to the page's
  // objects do not change the event; a function argument (a callback) is dropped. Never throws.
  let call = (m, args, t) => {
    let j;
    if (inert) return;
    try {
      j = json(args);
    } catch (e) {
      return console.error(P + m + "(): unreadable arguments: " + e);
    }
    if (py) {
      try {
        return JSON.parse(py(m, j) || "null");
      } catch (e) {
        return console.error(P + m + "(): " + e);
      }
    }
    if (q.length >= 1000) {
      full || console.warn(P + "1000 calls queued before the SDK started; dropping the rest");
      full = 1;
      return;
    }
    q.push([m, JSON.parse(j), t || Date.now(), uuid(), a._p()]);
  };

  M.forEach((m) => a[m] = (...args) => call(m, args));

  let get = (m) => () => py ? call(m, []) : null;
  a.user = () => ({ anonymousId: get("user.anonymousId"), id: get("user.id"), traits: get("user.traits") });
  a.session = () => ({ id: get("session.id") });
  // The URL with this visitor for another of the site's domains (before boot: the URL as it is).
  a.decorate = (u) => py ? call("decorate", [u]) : u;

  // Resolves once everything queued so far is acknowledged by the collector (or given up).
  a.flush = () => new Promise((r) => py ? pf(r) : flushes.push(r));

  // ready(cb) and `await analytics.ready()`, before or after boot; cb runs in its own task.
  a.ready = (cb) => new Promise((r) => {
    let f = () => { r(); cb && cb(); };
    readies ? readies.push(f) : setTimeout(f);
  });
  let readyAll = () => {
    readies.forEach((r) => setTimeout(r));
    readies = 0;
  };

  // Called by boot.py last, after it has replayed a._q: c(method, argsJSON) -> resultJSON,
  // f(done) calls done(ok) once flushed.
  a._ready = (c, f) => {
    py = c;
    pf = f;
    a._q = q = 0;
    flushes.forEach((r) => f(r));
    readyAll();
  };

  // The runtime did not start (runtime.js or a runtime file failed): say so once.
  a._f = () => {
    py || failed || console.warn(P + "the SDK runtime did not start; calls stay queued");
    failed = 1;
  };

  // The automatic page view (data-auto-page), queued here and now, first: with this moment's page
  // and time, through the same queue, replay and last-chance beacon as every early call, so that
  // the page a visit (and its session's attribution) hangs on is never the call that gets lost.
  off(data.autoPage) || (a._ap = 1, call("page", []));

  for (let [m, args, t] of prev) M.includes(m) ? call(m, args, t) : a[m] && a[m](...args);

  a.consent = {};
  ["grant", "deny"].forEach((m) => a.consent[m] = () => {
    store("visitrail_consent", consent = m == "grant" ? "granted" : "denied");
    call("consent." + m, []);
  });

  // Leaving before the SDK is up (pagehide, or hidden: mobile browsers may never fire pagehide):
  // 1. keep the queued calls for the next page of this site, whose boot replays them (boot.py);
  // 2. send them now, as they are, to the collector's /v1/calls, which builds the events with the
  //    SDK's own code: the visitor who never comes back is not lost. Same messageIds both ways, so
  //    the collector stores each call once. Nothing of this without consent.
  let save = () => {
    if (py || !q.length || !granted()) return;
    let mem = data.idStorage == "memory", user = parse("visitrail_user") || {}, calls, body;
    let aid = load("visitrail_aid") || (/(?:^|; )visitrail_aid=([^;]*)/.exec(d.cookie) || [])[1];
    if (!aid) {
      aid = uuid();
      mem || store("visitrail_aid", aid);  // the SDK adopts it at the next boot
    }
    if (!mem) {
      let sent = new Set(q.map((c) => c[3]));
      store("visitrail_calls", JSON.stringify((parse("visitrail_calls") || []).filter((c) => !sent.has(c[3]))
        .concat(q).slice(-1000)));
    }
    for (calls = q.filter((c) => !c.b); calls.length; calls = calls.slice(0, calls.length >> 1)) {
      // The tag's data-* attributes (writeKey, sessionTimeout, sessionMaxHours: what the collector
      // reads of them), then what the page holds. JSON leaves out what is undefined: the collector
      // reads a missing field as null.
      body = JSON.stringify(Object.assign({}, data, { anonymousId: aid, userId: user.id,
        identityToken: user.token || data.identityToken, environment: { locale: n.language,
          timezone: Intl.DateTimeFormat().resolvedOptions().timeZone, automation: n.webdriver },
        session: load("visitrail_session"), sentAt: new Date().toISOString(), calls }));
      if (body.length < 6e4) break;  // beacons are capped at 64 KB: the first calls go now, the rest later
    }
    let url = (data.endpoint || base.split("/").slice(0, 3).join("/")).replace(/\/$/, "") + "/v1/calls";
    if (calls.length && (n.sendBeacon(url, body) ||
        fetch(url, { method: "POST", body, keepalive: true, credentials: "omit" }).catch(() => {})))
      calls.forEach((c) => c.b = 1);
  };
  w.addEventListener("pagehide", save);
  d.addEventListener("visibilitychange", () => d.visibilityState == "hidden" && save());

  // After `load`, so that nothing of the runtime competes with the page's own resources.
  let script = (u) => {
    let e = d.createElement("script");
    e.src = u;
    e.onerror = a._f;
    d.head.appendChild(e);
  };
  // Where runtime.js and every runtime file live.
  let go = (v) => script((a._v = base + "v/" + v + "/") + "runtime.js");
  let boot = INLINE ? () => (a._go = (v) => (a._go = 0, go(v)), src ? script(src) : a._f()) : () => go(V);

  if (inert) {
    console.info(P + "Do Not Track / Global Privacy Control: nothing is stored or sent");
    readyAll();
    a.flush = () => Promise.resolve(true);
  } else {
    d.readyState == "complete" ? boot() : w.addEventListener("load", boot);
  }
})(window, document);
