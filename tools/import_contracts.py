"""Import-linter contract types of our own (registered in pyproject.toml `contract_types`).

`public_faces`: a module may import another module only through that module's public face —
its skeleton files (`services`, `selectors`, `events`, `errors`, `schemas`, `models`), the same
files of its feature sub-packages (`live.flash_sale.services`), and the few extra files the
contract names (`identity.auth`). Everything else is private to its module, so a module can be
reorganised inside without breaking its neighbours. Shared-kernel modules (`core`) are public in
every file.
"""

from __future__ import annotations

from collections.abc import Iterable

import grimp
from importlinter import Contract, ContractCheck, fields, output


def _top_module(name: str, root: str) -> str | None:
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != root:
        return None
    return parts[1]


def face_allows(
    imported: str,
    *,
    face_files: Iterable[str],
    extra_public: Iterable[str],
    is_package: bool,
) -> bool:
    """True when `imported` (a dotted module name) is part of its module's public face."""
    if imported in set(extra_public):
        return True
    below_module = imported.split(".")[2:]
    faces = set(face_files)
    if not below_module:
        return True  # the module package itself (its __init__ holds nothing)
    if len(below_module) == 1:
        # root.module.face, or a feature sub-package's __init__ (grimp lists the files
        # imported through it separately, and those are checked on their own)
        return below_module[0] in faces or is_package
    # root.module.sub.face, where sub is a feature sub-package
    return len(below_module) == 2 and below_module[1] in faces


class PublicFacesContract(Contract):
    """Cross-module imports reach only public faces.

    Options:
        - root: the root package (`freshloop`).
        - shared_kernel: modules whose every file is public (`core`).
        - face_files: the skeleton file names that form a module's face.
        - extra_public: further public files, as full dotted names.
    """

    type_name = "public_faces"

    root = fields.StringField()
    shared_kernel = fields.ListField(subfield=fields.StringField())
    face_files = fields.ListField(subfield=fields.StringField())
    extra_public = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        root = str(self.root)
        kernel = {str(name) for name in self.shared_kernel}  # type: ignore[attr-defined]
        faces = [str(name) for name in self.face_files]  # type: ignore[attr-defined]
        extra = [str(name) for name in (self.extra_public or [])]  # type: ignore[union-attr]
        violations: list[tuple[str, str, int, str]] = []
        for importer in sorted(graph.modules):
            importer_top = _top_module(importer, root)
            if importer_top is None:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                imported_top = _top_module(imported, root)
                if imported_top is None or imported_top == importer_top or imported_top in kernel:
                    continue
                if face_allows(
                    imported,
                    face_files=faces,
                    extra_public=extra,
                    is_package=bool(graph.find_children(imported)),
                ):
                    continue
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    violations.append(
                        (
                            importer,
                            imported,
                            int(detail["line_number"]),
                            str(detail["line_contents"]),
                        )
                    )
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported, line, contents in check.metadata["violations"]:
            output.print_error(f"{importer} imports {imported}, which is private to its module:")
            output.indent_cursor()
            output.print_error(f"{importer}:{line}: {contents}", bold=False)
            output.new_line()
        output.print(
            "Import what you need from the module's services, selectors, events, errors, "
            "schemas or models (or its sub-packages' ones); if it is not there, add it there. "
            "See CONTRIBUTING.md, 'Public faces'."
        )
