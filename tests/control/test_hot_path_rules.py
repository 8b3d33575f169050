"""Static check of the hot-path rules on every compiled kernel module of the package.

Every ``lowlat/**/kernels.py`` and ``lowlat/**/*_kernels.py`` is parsed with ``ast``. Inside
each function compiled for the hot path — decorated with ``hot_kernel``,
``hot_kernel_inline``, ``hot_kernel_inline_ir``, ``hot_kernel_uncached``, ``njit``, ``jit``
or ``register_jitable`` (bare, called, or as ``numba.<name>``), passed to one of them (``kernel =
hot_kernel(function)``), or defined or returned by an ``@overload`` — the check refuses
logging and ``print``, the wall clock (``time.time``, ``time.time_ns``, ``datetime``), locks
and threading, sleeping, and allocation (NumPy constructors, ``.copy()``,
``list``/``dict``/``set`` literals, calls and comprehensions). Other functions in the same
modules are control helpers that run interpreted and may allocate; they are not checked.
Compiled kernels never see Python's ``time`` module, so the monotonic clock of
``lowlat.core.clock`` is what they use, and it is allowed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lowlat"

COMPILING_DECORATORS = {
    "hot_kernel",
    "hot_kernel_inline",
    "hot_kernel_inline_ir",
    "hot_kernel_uncached",
    "njit",
    "jit",
    "register_jitable",
}
OVERLOAD_DECORATORS = {"overload", "overload_method", "overload_attribute"}
ALLOCATING_NUMPY = {
    "array", "asarray", "ascontiguousarray", "empty", "empty_like", "zeros", "zeros_like",
    "ones", "ones_like", "full", "full_like", "arange", "linspace", "copy", "concatenate",
    "stack", "vstack", "hstack", "append", "repeat", "tile", "unique", "sort", "argsort",
    "where", "nonzero", "frombuffer", "fromiter", "cumsum", "diff", "eye", "identity",
}  # fmt: skip
ALLOCATING_BUILTINS = {"list", "dict", "set", "bytearray", "sorted"}
LOCK_NAMES = {"Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event", "Barrier"}
CONCURRENCY_MODULES = {"threading", "multiprocessing", "asyncio", "queue", "_thread"}
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
LOGGER_NAMES = {"log", "logger", "_log", "_logger", "LOG", "LOGGER", "logging"}
SLEEPS = {"sleep", "sleep_ns", "usleep", "nanosleep"}
WALL_CLOCK = {("time", "time"), ("time", "time_ns"), ("time", "ctime"), ("time", "localtime")}


@dataclass(frozen=True, order=True)
class Violation:
    path: str  # relative to the repository root
    line: int
    function: str
    rule: str  # "allocation", "logging", "wall-clock", "lock", "sleep"
    detail: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Line-independent identity, for the allow-list."""
        return (self.path, self.function, self.rule, self.detail)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}: {self.rule} ({self.detail})"


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def decorator_names(function: ast.FunctionDef) -> set[str]:
    names = set()
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.add(dotted(target).rsplit(".", 1)[-1])
    return names


def compiled_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.Lambda]:
    """Every function Numba compiles: decorated, passed to a compiler, or an overload's.

    ``kernel = hot_kernel(function)`` compiles ``function``; an ``@overload`` function runs
    in Python at typing time, but the implementations it defines or returns are compiled.
    """
    by_name = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    compiled: list[ast.FunctionDef | ast.Lambda] = []
    named: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Name)
            and dotted(node.func).rsplit(".", 1)[-1] in COMPILING_DECORATORS
        ):
            named.add(node.args[0].id)
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = decorator_names(node)
        if decorators & COMPILING_DECORATORS:
            compiled.append(node)
        elif decorators & OVERLOAD_DECORATORS:
            for inner in ast.walk(node):
                if isinstance(inner, ast.FunctionDef | ast.Lambda) and inner is not node:
                    compiled.append(inner)
                elif isinstance(inner, ast.Return) and inner.value is not None:
                    named |= {n.id for n in ast.walk(inner.value) if isinstance(n, ast.Name)}
    compiled += [by_name[name] for name in sorted(named) if name in by_name]
    return list({id(f): f for f in compiled}.values())


def node_violation(node: ast.AST) -> tuple[str, str] | None:
    """``(rule, detail)`` if ``node`` breaks a hot-path rule."""
    if isinstance(node, ast.List | ast.Dict | ast.Set):
        return "allocation", f"{type(node).__name__.lower()} literal"
    if isinstance(node, ast.ListComp | ast.DictComp | ast.SetComp | ast.GeneratorExp):
        return "allocation", type(node).__name__
    if isinstance(node, ast.With | ast.AsyncWith):
        return "lock", "with statement"
    if isinstance(node, ast.Attribute | ast.Name):
        name = dotted(node)
        head, _, tail = name.partition(".")
        if head == "datetime" or name.startswith(("datetime.", "date.today")):
            return "wall-clock", name
        if (head, tail) in WALL_CLOCK:
            return "wall-clock", name
        if head in CONCURRENCY_MODULES and tail:
            return "lock", name
    if not isinstance(node, ast.Call):
        return None
    name = dotted(node.func)
    head, _, last = name.rpartition(".")
    if name == "print":
        return "logging", "print"
    if (head in LOGGER_NAMES and last in LOG_METHODS) or head == "logging":
        return "logging", name
    if last in SLEEPS:
        return "sleep", name
    if last in LOCK_NAMES or (head and last in {"acquire", "release"}):
        return "lock", name
    if head in {"np", "numpy"} and last in ALLOCATING_NUMPY:
        return "allocation", name
    if not head and last in ALLOCATING_BUILTINS:
        return "allocation", name
    if head and last == "copy" and not node.args:
        return "allocation", f"{name}()"
    return None


def check_source(source: str, path: str) -> list[Violation]:
    """Every hot-path rule broken inside the compiled functions of ``source``."""
    found = []
    for function in compiled_functions(ast.parse(source)):
        name = getattr(function, "name", "<lambda>")
        body = function.body if isinstance(function, ast.FunctionDef) else [function.body]
        for statement in body:
            for node in ast.walk(statement):
                hit = node_violation(node)
                if hit is not None:
                    found.append(Violation(path, node.lineno, name, *hit))
    return sorted(set(found))


def kernel_modules() -> list[Path]:
    paths = {*PACKAGE.rglob("kernels.py"), *PACKAGE.rglob("*_kernels.py")}
    return sorted(p for p in paths if "__pycache__" not in p.parts)


def repo_violations() -> list[Violation]:
    found = []
    for path in kernel_modules():
        found += check_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    return found


# Existing kernels that break a rule, for the lead to look at (issue 7). Keyed without
# line numbers so that unrelated edits do not churn the list; an entry that no longer
# matches a violation fails ``test_allow_list_entries_still_exist`` (remove it then).
ALLOWED: set[tuple[str, str, str, str]] = {
    # Idle back-off of a *waiting consumer* (``poll_batch_wait`` → ``idle`` with the
    # BACKOFF strategy): it sleeps by design, never on a producer's path. The lead must
    # decide whether waiting consumers are hot path (then move ``idle`` to a non-kernel
    # module or mark it) or not (then drop this entry with that change).
    ("lowlat/core/ring/kernels.py", "idle", "sleep", "sleep_ns"),
}


def test_the_check_finds_every_kernel_module_including_the_control_planes():
    names = {str(p.relative_to(ROOT)) for p in kernel_modules()}
    assert "lowlat/control/metrics/kernels.py" in names
    assert "lowlat/core/ring/kernels.py" in names
    assert any(name.endswith("_kernels.py") for name in names)


def test_compiled_hot_path_code_breaks_no_rule_outside_the_allow_list():
    unexpected = [v for v in repo_violations() if v.key not in ALLOWED]
    assert not unexpected, "hot-path rule violations:\n" + "\n".join(map(str, unexpected))


def test_allow_list_entries_still_exist():
    present = {v.key for v in repo_violations()}
    stale = sorted(ALLOWED - present)
    assert not stale, f"allow-listed violations that are gone (remove them): {stale}"


def test_the_control_planes_kernels_are_clean_without_any_allowance():
    path = "lowlat/control/metrics/kernels.py"
    assert check_source((ROOT / path).read_text(encoding="utf-8"), path) == []


BAD = {
    "logging": "logging.info('x')",
    "logger": "_log.warning('x')",
    "print": "print(x)",
    "wall clock": "t = time.time()",
    "wall clock ns": "t = time.time_ns()",
    "datetime": "t = datetime.now()",
    "lock": "threading.Lock()",
    "lock acquire": "self_lock.acquire()",
    "with": "with lock:\n        pass",
    "sleep": "time.sleep(0.1)",
    "sleep_ns": "sleep_ns(100)",
    "np.zeros": "a = np.zeros(4)",
    "np.empty": "a = np.empty(4)",
    "np.array": "a = np.array([1])",
    "np.full": "a = numpy.full(4, 1)",
    "list literal": "a = [1, 2]",
    "dict literal": "a = {1: 2}",
    "set literal": "a = {1, 2}",
    "list call": "a = list(x)",
    "comprehension": "a = [i for i in x]",
    "generator": "a = sum(i for i in x)",
    "copy": "a = x.copy()",
}


@pytest.mark.parametrize(
    "decorator", ["hot_kernel", "hot_kernel_inline", "njit", "numba.njit(cache=True)"]
)
@pytest.mark.parametrize("snippet", BAD.values(), ids=BAD.keys())
def test_each_rule_is_caught_inside_a_compiled_function(decorator, snippet):
    source = f"@{decorator}\ndef kernel(x, lock):\n    {snippet}\n"
    assert len(check_source(source, "m.py")) >= 1


@pytest.mark.parametrize("snippet", BAD.values(), ids=BAD.keys())
def test_control_helpers_without_a_compiling_decorator_may_do_anything(snippet):
    source = f"def helper(x, lock):\n    {snippet}\n"
    assert check_source(source, "m.py") == []


def test_functions_compiled_by_a_call_or_through_an_overload_are_checked():
    source = (
        "def update(x):\n"
        "    return [x]\n"
        "table = hot_kernel(update)\n"
        "def other(x):\n"
        "    print(x)\n"
        "@overload(other)\n"
        "def _ov_other(x):\n"
        "    kinds = [int]  # typing time: interpreted, may allocate\n"
        "    def impl(x):\n"
        "        time.sleep(1)\n"
        "    return impl if kinds else other\n"
    )
    found = {(v.function, v.rule) for v in check_source(source, "m.py")}
    assert found == {("update", "allocation"), ("other", "logging"), ("impl", "sleep")}


def test_what_the_hot_path_may_do_passes():
    source = (
        "@hot_kernel\n"
        "def kernel(a, n):\n"
        "    t = monotonic_ns()\n"
        "    v = load_acquire(a, 0)\n"
        "    store_release(a, 0, v + n)\n"
        "    pair = (v, t)\n"
        "    if v in (1, 2):\n"
        "        return np.int64(v)\n"
        "    return pair[0]\n"
    )
    assert check_source(source, "m.py") == []
