// Starts the Python runtime the tag's data-runtime names: "mpy" (PyScript + MicroPython, the
// default), "py" (PyScript + Pyodide) or "brython". loader.js adds this script after the page's
// `load` event; it is versioned (/analytics/v/<version>/runtime.js) and cached for good, so a page
// pays for it once. Each runtime ends in `import visitrail.browser.boot`, which replays the loader's queue
// and calls analytics._ready(). build.py minifies it and bakes in the manifest.
(function (w, d, a) {
  var V = /*MANIFEST*/0;  // {modules: [SDK module, ...], preload: {runtime: [[file, "module" | "fetch"], ...]}}
  var base = a._v, P = "[visitrail] ", up = function () { return !a._q; };
  // Called by the entry script once the SDK should be up, or booting (_b: boot.py replays the
  // queue in short tasks, and warns itself if it fails).
  a._d = function () { up() || a._b || a._f(); };

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
      var p = JSON.stringify(a._p());
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

  // For Page Left's scroll depth (core/engagement.py): the deepest point of the page the bottom of
  // the viewport reached, 0-100, kept here (a scroll event per frame is no work for Python).
  // _sd(1): a new page view's, from the position now.
  var deep = 0;
  function depth() {
    var e = d.documentElement, h = Math.max(e.scrollHeight, d.body ? d.body.scrollHeight : 0);
    return deep = Math.max(deep, h ? Math.min(100, Math.round((w.scrollY + w.innerHeight) * 100 / h)) : 100);
  }
  w.addEventListener("scroll", depth, { passive: true });
  a._sd = function (reset) {
    if (reset) deep = 0;
    return depth();
  };

  function el(tag, attrs, text) {
    var e = d.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return d.head.appendChild(e);
  }

  // PyScript reads each type's config once, when core.js is evaluated: our script and its config
  // go in first. The other type gets a config too, only to keep PyScript's plugins out (without
  // "!error" it would paint Python tracebacks into the page). The SDK's modules are written into
  // the interpreter's file system from the config's `files`: MicroPython bytecode (.mpy) or
  // Python sources for Pyodide.
  function pyscript(r) {
    var X = ["!error", "!py-editor", "!py-game", "!py-terminal", "!donkey", "!deprecations-manager", "!codemirror"];
    var o = r == "py" ? "mpy" : "py", x = r == "py" ? ".py" : ".mpy", files = {};
    var live = Symbol.for("@pyscript/core") in w, own = d.querySelector(r + "-config,script[type=" + r + "][config]");
    // A page that runs PyScript itself: a second config for this type would stop the page's
    // Python ("Unable to use different configs"), and once core.js has run it would be ignored.
    // The SDK joins the page's interpreter instead and writes its modules itself.
    if (live || own) {
      console.info(P + "this page runs PyScript (" + r + ") of its own: the SDK runs in the page's " + r +
        " interpreter, under the page's config");
      return Promise.all(V.modules.map(function (m) {
        return fetch(base + "visitrail/" + m + ".py").then(function (f) {
          if (!f.ok) throw Error(f.url + ": HTTP " + f.status);
          return f.text();
        }).then(function (t) { return ["visitrail/" + m + ".py", t]; });
      })).then(function (src) {
        a._src = JSON.stringify(src);
        start(r, {}, JOIN + BOOT);
        if (!live) el("script", { type: "module", src: base + "pyscript/core.js" }).onerror = a._f;
      }, a._f);
    }
    // Every file the runtime will ask for, one after the other (core.js imports its chunks, which
    // import the interpreter, which fetches its wasm, after which PyScript fetches the SDK's
    // modules), asked for at once: the browser hands each over from its cache when it is asked.
    V.preload[r].forEach(function (f) {
      el("link", f[1] == "module" ? { rel: "modulepreload", href: base + f[0] }
        : { rel: "preload", as: "fetch", crossorigin: "anonymous", href: base + f[0] });
    });
    V.modules.forEach(function (m) { files[base + "visitrail/" + m + x] = "./visitrail/" + m + x; });
    d.querySelector(o + "-config," + o + "-script,script[type=" + o + "]") ||
      el(o + "-config", {}, JSON.stringify({ plugins: X }));
    start(r, {
      config: JSON.stringify({
        interpreter: base + (r == "py" ? "pyodide/pyodide.mjs" : "micropython/micropython.mjs"), files: files, plugins: X
      })
    }, BOOT);
    el("script", { type: "module", src: base + "pyscript/core.js" }).onerror = a._f;
    // A runtime file that fails to load (404, CSP) surfaces as a rejection inside PyScript: ours
    // when it names our files. Warn once instead of leaving an uncaught error in the host page.
    w.addEventListener("unhandledrejection", function (e) {
      var r = e.reason;
      if (!up() && String(r && r.stack || r).indexOf(base) >= 0) {
        e.preventDefault();
        a._f();
      }
    });
  }

  // Python that writes the SDK's modules (a._src: [[path, text], ...]) where the page's
  // interpreter imports from, before `import visitrail.browser.boot`. Names stay out of the page's globals.
  var JOIN = "def _vt():\n import json, os\n from pyscript import window\n" +
    " for p, t in json.loads(window.analytics._src):\n  d = ''\n  for n in p.split('/')[:-1]:\n" +
    "   d += n\n   try:\n    os.mkdir(d)\n   except OSError:\n    pass\n   d += '/'\n" +
    "  with open(p, 'w') as f:\n   f.write(t)\n window.analytics._src = ''\n_vt()\ndel _vt\n";

  // The SDK starts in a task of its own, after the one in which PyScript starts the interpreter:
  // two tasks (about 85 and 40 ms here) instead of one of about 130 ms that blocks the page (TBT).
  // _d() then warns if it did not come up.
  var BOOT = "def _visitrail():\n import js\n try:\n  import visitrail.browser.boot\n except Exception as e:\n" +
    "  js.console.error('[visitrail] the SDK failed to start: ' + repr(e))\n js.analytics._d()\n" +
    "from pyscript.ffi import create_proxy\nimport js\njs.setTimeout(create_proxy(_visitrail), 0)\ndel _visitrail\n";

  // target: its own id, so PyScript adds no output element to the page.
  function start(r, attrs, code) {
    var id = "visitrail-boot";
    attrs.type = r;
    attrs.id = attrs.target = id;
    el("script", attrs, code);
  }

  // MicroPython alone, without PyScript, for a page that runs no Python of its own (the usual
  // case): its loader, its wasm and the SDK's bytecode (one file, build.py's mpy_bundle) are
  // fetched at once, the .mpy files written into its file system, then the modules imported in
  // order (V.order: dependencies first) in short tasks, yielding to the page every few ms, so that
  // no task is long; the SDK's boot is the last import. PyScript's own start (its chunks, config
  // and plugins) was most of the time to ready, and every long task, for a page that only needs the
  // interpreter. a._mp: the interpreter, for the page's tools and tests.
  function micropython() {
    var mjs = base + "micropython/micropython.mjs", wasm = base + "micropython/micropython.wasm";
    // No modulepreload for the loader: import() alone compiles it off the main thread (streamed),
    // a preloaded module is compiled on it, in one long task. The wasm is compiled off it either way.
    el("link", { rel: "preload", as: "fetch", crossorigin: "anonymous", href: wasm });
    Promise.all([
      import(mjs).then(function (m) { return m.loadMicroPython({ url: wasm, heapsize: 4 << 20 }); }),
      fetch(base + "visitrail/sdk.vtb").then(function (f) {
        if (!f.ok) throw Error(f.url + ": HTTP " + f.status);
        return f.arrayBuffer();
      })
    ]).then(function (got) {
      // The interpreter's start ran in this task's microtasks: the rest in tasks of their own.
      return new Promise(function (r) { setTimeout(r, 0, got); });
    }).then(function (got) {
      var py = a._mp = got[0], b = new DataView(got[1]), at = 4, i = 0, mods = V.order;
      while (at < b.byteLength) {
        var n = b.getUint16(at, true), p = "/lib/" + new TextDecoder().decode(new Uint8Array(got[1], at + 2, n)),
          size = b.getUint32(at + 2 + n, true);
        py.FS.mkdirTree(p.slice(0, p.lastIndexOf("/")));
        py.FS.writeFile(p, new Uint8Array(got[1], at + 6 + n, size));
        at += 6 + n + size;
      }
      py.runPython("import sys\nsys.path.insert(0, '/lib')");
      (function next() {
        for (var t = performance.now(); i < mods.length && performance.now() - t < 8;) {
          var name = "visitrail" + ("/" + mods[i++]).replace(/\/__init__$|\//g, function (x) {
            return x == "/" ? "." : "";
          });
          try {
            py.runPython("import " + name);
          } catch (e) {
            console.error(P + "the SDK failed to start: " + e);
            return a._f();
          }
        }
        i < mods.length ? setTimeout(next) : a._d();
      })();
    }, a._f);
  }

  // Brython compiles Python to JS and evals it: brython.min.js, then the bundle (the SDK and the
  // few stdlib modules it needs, so Brython fetches no module), run in that order; then
  // brython(), then the entry script: a text/python script added before brython() is never run.
  // A page that runs Brython itself keeps its own (it calls brython() on load, which also runs
  // the entry script); the bundle leaves the page's own stdlib modules alone.
  function brython() {
    var B = w.__BRYTHON__, n = B ? 1 : 2;
    try {
      Function("");
    } catch (e) {
      return a._f();  // a CSP without 'unsafe-eval'
    }
    B && console.info(P + "this page runs Brython of its own: the SDK runs in it");
    function go() {
      if (--n) return;
      if (!w.__BRYTHON__) return a._f();
      B || w.brython({ debug: 0, indexeddb: 0 });
      el("script", { type: "text/python", id: "visitrail_boot" },
        "from browser import window\ntry:\n    import visitrail.browser.boot\nfinally:\n    window.analytics._d()\n");
    }
    [B ? 0 : "brython/brython.min.js", "brython/visitrail.js"].forEach(function (u) {
      if (!u) return;
      var e = d.createElement("script");
      e.src = base + u;
      e.async = false;  // executed in order
      e.onload = go;
      e.onerror = a._f;
      d.head.appendChild(e);
    });
  }

  var r = JSON.parse(a._o).runtime || "mpy";
  // A runtime file that fails to load (a 404) is not always reported: Pyodide swallows a wasm
  // that does not instantiate, and waits for ever. Resource Timing sees its status.
  try {
    new PerformanceObserver(function (l) {
      l.getEntries().forEach(function (e) {
        if (!up() && e.name.indexOf(base) == 0 && e.responseStatus >= 400) a._f();
      });
    }).observe({ type: "resource", buffered: true });
  } catch (e) {}
  if (r == "brython") brython();
  // MicroPython alone unless the page runs Python of its own, which needs PyScript.
  else if (r == "mpy" && !(Symbol.for("@pyscript/core") in w) &&
    !d.querySelector("script[type=mpy],script[type=py],mpy-script,py-script,mpy-config,py-config")) micropython();
  else if (r == "mpy" || r == "py") pyscript(r);
  else {
    console.warn(P + 'data-runtime="' + r + '" is not mpy, py or brython: calls stay queued');
    a._f = function () {};
  }
})(window, document, analytics);
