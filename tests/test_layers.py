"""The README's layer diagram is the import rule, and this test holds the code to it.

README.md ("How it works") lists the modules of ``python/acecoder`` in layers, top to bottom. A module may import
(at the top of a file or inside a function, both count) only modules of its own package or top-level module, or
of a layer below its own: never one beside it on the same line, never one above. The same block must name every
top-level module and package of the tree, and nothing else, so the diagram cannot drift from the code; the Rust
block beside it must name every file under ``rust/src`` and the other top-level entries it lists must exist.

A new upward import fails here with the importing file, the line and both layers, which is the point: moving a
module to where its imports say it belongs is cheap, and a cycle in disguise (a lazy import upward) is not.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "acecoder"
README = ROOT / "README.md"

_LAYERS_INTRODUCTION = "in layers from top to bottom"
_RUST_INTRODUCTION = "The Rust engine and the rest of the tree"


def _block_after(text: str, marker: str) -> list[str]:
    """The lines of the first fenced block after ``marker``."""
    start = text.index(marker)
    opening = text.index("```\n", start) + 4
    closing = text.index("```\n", opening)
    return [line for line in text[opening:closing].splitlines() if line.strip()]


def _leading_names(line: str) -> list[str]:
    """The module names a diagram line starts with: tokens ending in ``/`` or ``.py``, or ``_engine``."""
    names = []
    for token in line.split():
        if token.endswith(("/", ".py")) or token == "_engine":
            names.append(token)
        else:
            break
    return names


def _top_level_name(name: str) -> str:
    """``eval/`` and ``report.py`` as the dotted top-level module they are: ``eval``, ``report``."""
    return name.rstrip("/").removesuffix(".py")


def diagram_layers() -> list[list[str]]:
    """The README's layers, top first, as top-level module names."""
    lines = _block_after(README.read_text(encoding="utf-8"), _LAYERS_INTRODUCTION)
    return [[_top_level_name(name) for name in _leading_names(line)] for line in lines]


def tree_modules() -> set[str]:
    """Every top-level module and package of ``python/acecoder`` (the native engine as ``_engine``)."""
    names = set()
    for path in PACKAGE.iterdir():
        if path.name.startswith((".", "__pycache__")) or path.name in ("__init__.py", "py.typed"):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            names.add(path.name)
        elif path.suffix == ".py":
            names.add(path.stem)
        elif path.name.startswith("_engine"):  # _engine.abi3.so and its stub _engine.pyi
            names.add("_engine")
    return names


@dataclass(frozen=True)
class Import:
    importer: str  # top-level module of the importing file
    imported: str  # top-level module imported
    where: str  # file:line


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports() -> list[Import]:
    """Every import of an ``acecoder`` module by another top-level module, relative imports resolved."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        importer = module.split(".")[1] if "." in module else ""
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                # `from acecoder import digest` imports the module acecoder.digest.
                targets = [f"{source}.{alias.name}" for alias in node.names] if source == "acecoder" else [source]
            for target in targets:
                parts = target.split(".")
                if parts[0] != "acecoder" or len(parts) < 2:
                    continue
                imported = parts[1]
                if source_is_module(imported) and imported != importer:
                    found.append(Import(importer, imported, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return found


def source_is_module(name: str) -> bool:
    """Whether ``acecoder.<name>`` is a module or package (not a name the root package defines, like __version__)."""
    return name in tree_modules()


def test_readme_layers_name_every_module_once() -> None:
    named = [name for layer in diagram_layers() for name in layer]
    repeated = sorted({name for name in named if named.count(name) > 1})
    assert not repeated, f"named in more than one layer of the README diagram: {repeated}"
    missing = tree_modules() - set(named)
    assert not missing, f"modules of python/acecoder the README diagram does not place in a layer: {sorted(missing)}"
    stale = set(named) - tree_modules()
    assert not stale, f"the README diagram names modules that do not exist: {sorted(stale)}"


def offences(imports: list[Import], layers: list[list[str]]) -> list[str]:
    """Each import that goes sideways or up ``layers`` (top first), as a line that names the file and both layers."""
    layer_of = {name: index for index, layer in enumerate(layers) for name in layer}
    layer_of[""] = -1  # the package's own __init__ (lazy names only) sits above everything it re-exports
    return [
        f"{found.where}: {found.importer or 'acecoder'} (layer {layer_of[found.importer]}) imports "
        f"{found.imported} (layer {layer_of[found.imported]})"
        for found in imports
        if layer_of[found.imported] <= layer_of[found.importer]
    ]


def test_imports_only_go_down_the_layers() -> None:
    found = offences(package_imports(), diagram_layers())
    assert not found, "imports that go sideways or up the README's layers:\n" + "\n".join(found)


def test_an_upward_or_sideways_import_is_an_offence() -> None:
    layers = diagram_layers()
    upward = Import("exec", "cli", "python/acecoder/exec.py:1")
    sideways = Import("synth", "pairs", "python/acecoder/synth/pipeline.py:1")
    downward = Import("pairs", "exec", "python/acecoder/pairs/passrate.py:1")
    assert offences([upward, sideways, downward], layers) == [
        "python/acecoder/exec.py:1: exec (layer 8) imports cli (layer 1)",
        "python/acecoder/synth/pipeline.py:1: synth (layer 4) imports pairs (layer 4)",
    ]


def test_the_import_scan_sees_lazy_and_relative_imports() -> None:
    # The scan must not miss the kind of import that hid a loop before (rewards importing train lazily).
    found = {(item.importer, item.imported) for item in package_imports()}
    assert ("cli", "train") in found  # cli/train_rm.py imports acecoder.train inside run()
    assert ("harness", "digest") in found  # `from acecoder import digest`
    assert ("rewards", "models") in found  # a lazy import inside a function


def test_readme_rust_block_names_every_engine_file() -> None:
    lines = _block_after(README.read_text(encoding="utf-8"), _RUST_INTRODUCTION)
    named: set[str] = set()
    for line in lines:
        tokens = line.split()
        if not tokens[0].startswith("rust/src"):
            for entry in tokens:
                assert (ROOT / entry).exists(), f"README names {entry}, which is not in the tree"
            continue
        directory = tokens[0]
        for token in tokens[1:]:
            if token.startswith("("):
                break
            named.add(directory + token)
    actual = {path.relative_to(ROOT).as_posix() for path in (ROOT / "rust" / "src").rglob("*.rs")}
    assert named == actual, f"missing from README: {sorted(actual - named)}; not in tree: {sorted(named - actual)}"


def test_diagram_parser_reads_the_shape_it_claims() -> None:
    assert _leading_names("eval/ serve/ report.py     evalplus evaluation; report.py is not read here") == [
        "eval/",
        "serve/",
        "report.py",
    ]
    assert re.fullmatch(r"[a-z_]+", _top_level_name("tokenizer_files.py"))
