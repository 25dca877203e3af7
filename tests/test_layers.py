"""The house's layers: no module imports a higher layer, no import cycle, the session layer loads no audio library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "stemhost"

# Lowest first. A module may import its own layer and the layers below it, nothing above.
LAYERS = {
    "errors": 0, "limits": 0, "ownership": 0, "formats": 0, "units": 0, "steps": 0, "__init__": 0,
    "session": 1,
    "engine": 2,
    "render": 3,
    "live": 4, "packs": 4, "analysis": 4, "show": 4,
    "cli": 5, "web": 5,
}  # fmt: skip
AUDIO_LIBRARIES = ("pedalboard", "soundfile", "sounddevice", "soxr", "numpy", "pyebur128", "librosa", "matplotlib")


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The modules a file imports (``from stemhost.x import y`` gives stemhost.x and stemhost.x.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` imports run no code
            continue
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "__init__"]


def test_every_module_has_a_layer():
    unknown = sorted(m for m in modules() if m != "stemhost" and m.split(".")[1] not in LAYERS)
    assert not unknown, f"add these to LAYERS (and to ARCHITECTURE.md): {unknown}"


@pytest.mark.parametrize("module", sorted(m for m in modules() if m != "stemhost"))
def test_no_module_imports_a_higher_layer(module):
    known = modules()
    own = layer(module)
    upward = sorted(
        name for name in imports(known[module]) if name in known and name != "stemhost" and layer(name) > own
    )
    assert not upward, f"{module} (layer {own}) imports {upward} from above it"


def test_render_never_imports_live():
    for module, path in modules().items():
        if module.startswith("stemhost.render"):
            assert not any(name.startswith("stemhost.live") for name in imports(path)), module


def test_the_session_layer_names_no_audio_library():
    for module, path in modules().items():
        if module.startswith("stemhost.session") or layer(module) == 0:
            named = {name.split(".")[0] for name in imports(path)} & set(AUDIO_LIBRARIES)
            assert not named, f"{module} imports {named}"


def test_importing_the_session_layer_loads_no_audio_library():
    session = [m for m in modules() if m.startswith("stemhost.session")]
    code = f"import sys; import {', '.join(session)}; print(sorted(m for m in {AUDIO_LIBRARIES!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_no_import_cycle():
    """Module-level imports form no cycle (imports inside functions run later and may go either way)."""
    known = modules()
    graph = {m: {n for n in imports(p, top_level_only=True) if n in known and n != m} for m, p in known.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in graph[module]:
            if state.get(name) == 1:
                cycle = path[path.index(name) :] + [name] if name in path else [module, name]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if name not in state:
                visit(name, [*path, name])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_no_module_is_over_about_400_lines():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > 420}
    assert not long, f"split these: {long}"


def test_only_the_cli_prints():
    """Library code hands warnings and notes to the caller (warnings, the stemhost logger); the CLI prints them."""
    printing = []
    for module, path in modules().items():
        if module.startswith("stemhost.cli"):
            continue
        calls = ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "print" for c in calls):
            printing.append(module)
    assert not printing, f"these print: {printing}"
