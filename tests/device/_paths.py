"""Where device tests find their data, on CPython and on MicroPython-WebAssembly.

Device tests (tests/device/test_*.py) run twice: collected by pytest on CPython, and
on MicroPython by tools/mpwasm/run.mjs, which copies this folder to
/cpsdi/tests/device and tests/vectors to /cpsdi/tests/vectors in its in-memory file
system. Both layouts keep `vectors/` next to `device/`, so the folder is found
relative to this file's own __file__. Written for both interpreters: no os.path,
no pathlib (string operations only).
"""

# Where tools/mpwasm/run.mjs puts the vectors; used only if __file__ is unavailable
# (e.g. a frozen build).
_MPWASM_VECTORS = "/cpsdi/tests/vectors"


def _parent(path):
    # Parent folder of `path`, accepting "/" and (Windows CPython) "\\" separators.
    path = path.rstrip("/\\")
    if path in ("", "."):
        return ".."
    i = max(path.rfind("/"), path.rfind("\\"))
    if i < 0:
        return "."
    if i == 0:
        return path[0]
    return path[:i]


def _join(folder, name):
    if folder.endswith("/") or folder.endswith("\\"):
        return folder + name
    sep = "\\" if ("\\" in folder and "/" not in folder) else "/"
    return folder + sep + name


def vectors_dir():
    """The tests/vectors folder (golden vectors, JSON lines), without trailing separator."""
    try:
        here = __file__
    except NameError:
        return _MPWASM_VECTORS
    return _join(_parent(_parent(here)), "vectors")


def vector_path(name):
    """Path of one file in tests/vectors, e.g. vector_path("atr.jsonl")."""
    return _join(vectors_dir(), name)


def read_jsonl(name):
    """The records of tests/vectors/<name>: one JSON value per non-blank line.

    Lines starting with '#' are comments.
    """
    import json

    out = []
    with open(vector_path(name)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(json.loads(line))
    return out
