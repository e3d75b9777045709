// Runs the core's unit tests on real MicroPython (the WebAssembly build the SDK ships), in Node.
// The test modules are the same files pytest runs under CPython; a tiny runner below calls each
// test_* function, since pytest and hypothesis do not exist on MicroPython.
// Usage: node tests/micropython/run.mjs   (prints "N passed, M failed"; exit 1 on any failure)
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const { loadMicroPython } = await import(
  join(root, "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"));

// Test modules written for both interpreters; test_properties (hypothesis) and
// test_core_isolation (subprocess) are CPython-only.
const TESTS = ["test_events", "test_identity", "test_session", "test_queue", "test_consent", "test_recorder",
  "test_subdomains", "test_links", "test_page_config", "test_attribution", "test_engagement"];

let out = "";
const mp = await loadMicroPython({ heapsize: 64 * 1024 * 1024, stdout: (l) => { out += l + "\n"; process.stdout.write(l + "\n"); } });
const FS = mp.FS;

function copyTree(src, dest) {
  FS.mkdirTree(dest);
  for (const name of readdirSync(src)) {
    const path = join(src, name);
    if (statSync(path).isDirectory()) {
      // What the core's tests need: core/ and memory.py (browser/ needs a page, collector/ and dev/ CPython).
      if (!["collector", "dev", "browser", "__pycache__"].includes(name)) copyTree(path, dest + "/" + name);
    } else if (name.endsWith(".py")) {
      FS.writeFile(dest + "/" + name, readFileSync(path, "utf8"));
    }
  }
}
copyTree(join(root, "sdk/visitrail"), "/lib/visitrail");
for (const name of ["support.py", ...TESTS.map((t) => t + ".py")]) {
  FS.writeFile("/lib/" + name, readFileSync(join(root, "tests/unit", name), "utf8"));
}

mp.runPython(`
import sys
sys.path.append("/lib")
passed = failed = 0
for mod_name in ${JSON.stringify(TESTS)}:
    mod = __import__(mod_name)
    for name in sorted(dir(mod)):
        if not name.startswith("test_"):
            continue
        try:
            getattr(mod, name)()
            passed += 1
        except Exception as e:
            failed += 1
            print("FAILED " + mod_name + "::" + name)
            sys.print_exception(e)
print("micropython: %d passed, %d failed" % (passed, failed))
`);
process.exit(/ 0 failed/.test(out) ? 0 : 1);
