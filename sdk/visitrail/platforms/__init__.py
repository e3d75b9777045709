"""Platform adapters, one per runtime: `pyscript` (PyScript: MicroPython, Pyodide), `brython`, and
`memory` (tests). Both browser adapters are platforms/web.py on the FFI shim platforms/ffi.py.
Importing this package imports none of them."""


def browser_platform():
    """The Platform class for the browser runtime this code runs on."""
    from .ffi import RUNTIME

    if RUNTIME == "brython":
        from .brython import BrythonPlatform

        return BrythonPlatform
    from .pyscript import PyScriptPlatform

    return PyScriptPlatform
