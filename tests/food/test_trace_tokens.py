"""Signed lot tokens (food/trace_tokens.py) and the public page's answer to each kind of bad
token: a QR code carries `<lot id>.<HMAC>`, and only the exact token of a lot opens its page."""

from __future__ import annotations

import secrets

import pytest
from django.core import signing
from django.test import Client, override_settings

from freshloop.food.services import trace_origin_assign, trace_publish
from freshloop.food.trace_tokens import (
    TokenForged,
    TokenMalformed,
    lot_token,
    lot_token_read,
    lot_trace_url,
)
from tests.food.trace_helpers import OPERATOR, make_lot, make_origin


def _flip(character: str) -> str:
    return "A" if character != "A" else "B"


class TestLotToken:
    def test_reads_back_the_lot_and_is_stable(self) -> None:
        token = lot_token(42)
        assert lot_token_read(token) == 42
        assert lot_token(42) == token  # packs printed at different times carry the same code
        assert token.startswith("42.")
        assert len(token.split(".")[1]) == 43

    def test_an_altered_signature_is_refused(self) -> None:
        token = lot_token(42)
        with pytest.raises(TokenForged):
            lot_token_read(token[:-1] + _flip(token[-1]))

    def test_another_lots_id_under_this_signature_is_refused(self) -> None:
        signature = lot_token(42).split(".")[1]
        with pytest.raises(TokenForged):
            lot_token_read(f"43.{signature}")

    def test_a_guessed_token_is_refused(self) -> None:
        guess = f"42.{secrets.token_urlsafe(32)[:43]}"
        with pytest.raises(TokenForged):
            lot_token_read(guess)

    def test_a_value_signed_for_something_else_is_refused(self) -> None:
        # the project's other signed values (default salt) cannot be replayed as lot tokens
        other = signing.Signer(sep=".", algorithm="sha256").sign("42")
        with pytest.raises(TokenForged):
            lot_token_read(other)

    @pytest.mark.parametrize(
        "token", ["", "42", "abc.def", "0." + "A" * 43, "42." + "A" * 42, "42:" + "A" * 43]
    )
    def test_malformed_tokens_are_refused(self, token: str) -> None:
        with pytest.raises(TokenMalformed):
            lot_token_read(token)

    def test_a_rotated_key_keeps_printed_codes_valid(self) -> None:
        token = lot_token(7)
        with override_settings(SECRET_KEY="a-new-key-" * 5, SECRET_KEY_FALLBACKS=[_current_key()]):
            assert lot_token_read(token) == 7
        with (
            override_settings(SECRET_KEY="a-new-key-" * 5, SECRET_KEY_FALLBACKS=[]),
            pytest.raises(TokenForged),
        ):
            lot_token_read(token)

    def test_the_qr_url_is_absolute(self, settings: object) -> None:
        assert lot_trace_url(5) == f"http://127.0.0.1:8000/trace/{lot_token(5)}"


def _current_key() -> str:
    from django.conf import settings

    return str(settings.SECRET_KEY)


@pytest.mark.django_db
class TestPublicPageRefusals:
    def _published_lot(self) -> int:
        lot = make_lot()
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        trace_publish(batch=lot, actor=OPERATOR)
        return lot.pk

    def test_the_exact_token_opens_the_page(self) -> None:
        lot_id = self._published_lot()
        response = Client().get(f"/trace/{lot_token(lot_id)}")
        assert response.status_code == 200
        assert "呼伦贝尔一号牧场" in response.content.decode()

    def test_an_altered_token_gets_a_chinese_404(self) -> None:
        token = lot_token(self._published_lot())
        response = Client().get(f"/trace/{token[:-1]}{_flip(token[-1])}")
        assert response.status_code == 404
        assert "溯源码无效" in response.content.decode()
        assert "呼伦贝尔" not in response.content.decode()

    def test_a_wrong_lot_gets_the_same_404(self) -> None:
        lot_id = self._published_lot()
        other_lot_id = self._published_lot()
        forged = f"{other_lot_id}.{lot_token(lot_id).split('.')[1]}"
        response = Client().get(f"/trace/{forged}")
        assert response.status_code == 404
        assert "溯源码无效" in response.content.decode()

    @pytest.mark.parametrize("token", ["12345", "%E4%BD%A0%E5%A5%BD", "x" * 300, "1.abc"])
    def test_garbage_gets_a_chinese_400(self, token: str) -> None:
        response = Client().get(f"/trace/{token}")
        assert response.status_code == 400
        assert "无法识别的溯源码" in response.content.decode()

    def test_an_unpublished_lot_says_so(self) -> None:
        lot = make_lot()
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        response = Client().get(f"/trace/{lot_token(lot.pk)}")
        assert response.status_code == 404
        assert "暂无溯源信息" in response.content.decode()

    def test_a_valid_token_of_a_lot_that_does_not_exist(self) -> None:
        response = Client().get(f"/trace/{lot_token(987654)}")
        assert response.status_code == 404
        assert "暂无溯源信息" in response.content.decode()
