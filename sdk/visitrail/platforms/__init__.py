"""Platform adapters, one per runtime: `pyscript` (PyScript: MicroPython, Pyodide) and `memory`
(tests). Import the one you need; importing this package imports none of them."""
