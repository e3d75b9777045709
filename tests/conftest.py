"""Options for the whole test tree (an option must be declared in a conftest pytest loads first)."""


def pytest_addoption(parser):
    parser.addoption(
        "--runtimes",
        default=None,
        help="end-to-end tests: comma-separated runtimes (mpy,py,brython) to run every test on; "
        "default: mpy and brython, plus py for the tests marked pyodide",
    )
