"""Imports flow one way (docs/architecture.md, "Layers"): a stage imports only stages of lower layers, never
one of its own layer or above, and no two modules import each other (directly or through a loop). Every
`import` counts: module level, inside functions (lazy) and under TYPE_CHECKING. Read from the source with
`ast`, so the test needs nothing installed and sees imports that never run."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "echo_ihg"

# Lowest first. A stage may import any stage of a lower layer, and none of its own layer or above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("constants", "errors"),
    ("utils",),
    ("io", "audio", "assets"),
    ("tracking",),
    ("motion",),
    ("model", "data"),          # the motion model; the session format, its features and adapters
    ("render",),                # renders sessions too (render.files reads data.session)
    ("synth", "train"),
    ("inference",),             # the product: offline pipeline, live server
    ("eval",),                  # the grader: scores what inference generates
    ("demo",),                  # the application above both (echo-ihg demo)
    ("cli",),
)
LAYER = {stage: i for i, layer in enumerate(LAYERS) for stage in layer}
TOP_LEVEL_MODULES = {"__init__", "__main__", "constants", "errors"}


@dataclass(frozen=True)
class Source:
    """One module's source: its text and whether it is a package's __init__ (relative imports differ)."""

    text: str
    package: bool = False


def sources() -> dict[str, Source]:
    """echo_ihg's modules by dotted name."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = Source(path.read_text(encoding="utf-8"), package)
    return out


def imports(module: str, source: Source) -> list[tuple[int, str]]:
    """(line, imported name) of every echo_ihg import of a module; `from X import y` gives X.y."""
    package = module.split(".") if source.package else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source.text, module)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + [base]).strip(".")
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return [(line, n) for line, n in out if n.split(".")[0] == "echo_ihg"]


def stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def resolve(name: str, modules: dict[str, Source]) -> str | None:
    """The module an imported name lives in (`echo_ihg.a.b.func` -> `echo_ihg.a.b`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def layering_violations(modules: dict[str, Source]) -> list[str]:
    problems = []
    for module, source in modules.items():
        src = stage(module)
        for line, name in imports(module, source):
            dst = stage(resolve(name, modules) or name)
            if src is None or dst is None or src == dst:
                continue
            if src not in LAYER or dst not in LAYER:
                problems.append(f"{module}:{line}: imports {name}: a stage missing from LAYERS")
            elif LAYER[dst] >= LAYER[src]:
                where = "in its own layer" if LAYER[dst] == LAYER[src] else "above it"
                problems.append(f"{module}:{line}: {src} imports {dst} ({name}), which is {where}")
    return problems


def import_cycles(modules: dict[str, Source]) -> list[list[str]]:
    """Strongly connected groups of more than one module in the module import graph (Tarjan)."""
    graph = {m: sorted({r for _, n in imports(m, s) if (r := resolve(n, modules)) and r != m})
             for m, s in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_every_stage_has_a_layer():
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    stages |= {p.stem for p in PACKAGE.glob("*.py")} - TOP_LEVEL_MODULES
    assert stages <= set(LAYER), f"add these stages to LAYERS: {sorted(stages - set(LAYER))}"


def test_imports_flow_one_way():
    problems = layering_violations(sources())
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_no_import_cycles():
    cycles = import_cycles(sources())
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def _with(module: str, extra: str) -> dict[str, Source]:
    """echo_ihg's sources with `extra` appended to one module."""
    modules = sources()
    modules[module] = Source(modules[module].text + "\n" + extra + "\n", modules[module].package)
    return modules


# ---- the checks would catch the back-edges and loops this layering removed --------------------------------

@pytest.mark.parametrize("module, extra", [
    ("echo_ihg.tracking.tracker", "from echo_ihg.motion.topology import N_FACE_POINTS"),
    ("echo_ihg.motion.codec", "def f():\n    from echo_ihg.data.session import read_meta"),      # lazy
    ("echo_ihg.inference.pipeline", "from echo_ihg.eval.runner import evaluate_generation"),
    ("echo_ihg.inference.pipeline", "def f():\n    from echo_ihg.render import files"),             # fine
    ("echo_ihg.eval.runner", "def f():\n    from echo_ihg.cli.render import run"),
    ("echo_ihg.eval.runner", "from echo_ihg.demo import run_demo"),
    ("echo_ihg.model.engine", "from echo_ihg.data.windows import WindowSpec"),   # same layer
    ("echo_ihg.data.session", "if TYPE_CHECKING:\n    from echo_ihg.render.base import RenderConfig"),
    ("echo_ihg.data", "from . import cache\nfrom ..inference import config"),                  # relative
])
def test_the_layer_check_sees_back_edges(module, extra):
    found = layering_violations(_with(module, extra))
    assert bool(found) == ("render import files" not in extra), found


@pytest.mark.parametrize("module, extra", [
    ("echo_ihg.data.session", "from echo_ihg.data.cache import cached_feature"),
    ("echo_ihg.eval.inputs", "def f():\n    from echo_ihg.eval.runner import run_evaluation"),
    ("echo_ihg.data.adapters.registry", "from echo_ihg.data.adapters import prepare_dataset"),
])
def test_the_cycle_check_sees_loops(module, extra):
    assert any(module in c for c in import_cycles(_with(module, extra)))
