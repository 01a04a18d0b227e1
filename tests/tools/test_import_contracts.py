"""The public-faces import contract: which cross-module imports it lets through."""

from __future__ import annotations

import grimp
import pytest

from tools.import_contracts import PublicFacesContract, face_allows

FACES = ["services", "selectors", "events", "errors", "schemas", "models"]


class TestFaceAllows:
    @pytest.mark.parametrize(
        "imported",
        [
            "freshloop.orders",
            "freshloop.orders.services",
            "freshloop.orders.models",
            "freshloop.live.flash_sale.services",
            "freshloop.identity.auth",
        ],
    )
    def test_face_files_and_declared_extras_are_public(self, imported: str) -> None:
        assert face_allows(
            imported, face_files=FACES, extra_public=["freshloop.identity.auth"], is_package=False
        )

    @pytest.mark.parametrize(
        "imported",
        [
            "freshloop.orders.pricing",
            "freshloop.identity.resolver",
            "freshloop.live.flash_sale.redis_stock",
            "freshloop.live.flash_sale.services.helpers",
        ],
    )
    def test_any_other_file_is_private(self, imported: str) -> None:
        assert not face_allows(imported, face_files=FACES, extra_public=[], is_package=False)

    def test_a_feature_sub_package_itself_is_public(self) -> None:
        # given `from freshloop.live import flash_sale` where flash_sale is a package
        assert face_allows(
            "freshloop.live.flash_sale", face_files=FACES, extra_public=[], is_package=True
        )


class TestPublicFacesContract:
    def _check(self, imports: list[tuple[str, str]]) -> list[tuple[str, str, int, str]]:
        graph = grimp.ImportGraph()
        for importer, imported in imports:
            graph.add_import(
                importer=importer, imported=imported, line_number=3, line_contents="import x"
            )
        contract = PublicFacesContract(
            name="faces",
            session_options={"root_packages": ["freshloop"]},
            contract_options={
                "root": "freshloop",
                "shared_kernel": ["core"],
                "face_files": FACES,
            },
        )
        return contract.check(graph, verbose=False).metadata["violations"]

    def test_an_import_of_a_private_file_breaks_the_contract(self) -> None:
        # given web importing an internal file of orders, and orders its own internals and core
        violations = self._check(
            [
                ("freshloop.web.views", "freshloop.orders.pricing"),
                ("freshloop.web.views", "freshloop.orders.services"),
                ("freshloop.orders.services", "freshloop.orders.pricing"),
                ("freshloop.orders.services", "freshloop.core.outbox"),
            ]
        )
        # then only the cross-module private import is reported, with its line
        assert violations == [("freshloop.web.views", "freshloop.orders.pricing", 3, "import x")]
