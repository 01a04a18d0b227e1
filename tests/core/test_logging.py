from __future__ import annotations

import io
import json
import logging
import logging.config
from typing import Any

import pytest
from django.test import Client

from freshloop.core.logging import request_id_var


def _configure(fmt: str, stream: io.StringIO, settings: Any) -> logging.Logger:
    config = dict(settings.LOGGING)
    config["handlers"] = {
        "capture": {
            "class": "logging.StreamHandler",
            "stream": stream,
            "filters": ["request_id"],
            "formatter": fmt,
        }
    }
    config["root"] = {"handlers": ["capture"], "level": "INFO"}
    config["loggers"] = {}
    logging.config.dictConfig(config)
    return logging.getLogger("freshloop.test")


@pytest.fixture
def restore_logging(settings: Any) -> Any:
    yield
    logging.config.dictConfig(settings.LOGGING)


class TestStructuredLogging:
    def test_json_lines_carry_the_request_id(self, settings: Any, restore_logging: Any) -> None:
        stream = io.StringIO()
        logger = _configure("json", stream, settings)
        token = request_id_var.set("req-42")
        try:
            logger.info("order %s paid", "O-1")
        finally:
            request_id_var.reset(token)
        record = json.loads(stream.getvalue().strip().splitlines()[-1])
        assert record["message"] == "order O-1 paid"
        assert record["request_id"] == "req-42"
        assert record["level"] == "INFO"
        assert record["logger"] == "freshloop.test"

    def test_text_lines_carry_the_request_id(self, settings: Any, restore_logging: Any) -> None:
        stream = io.StringIO()
        logger = _configure("text", stream, settings)
        logger.warning("outside any request")
        assert "[-] freshloop.test: outside any request" in stream.getvalue()


@pytest.mark.django_db(transaction=True)
class TestRequestIdInLogs:
    def test_logs_written_during_a_request_name_it(
        self, client: Client, settings: Any, restore_logging: Any
    ) -> None:
        stream = io.StringIO()
        _configure("json", stream, settings)
        client.post(
            "/api/v1/auth/otp",
            {"phone": "13800138000"},
            content_type="application/json",
            HTTP_X_REQUEST_ID="trace-7",
        )
        lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
        sms_lines = [line for line in lines if "sandbox sms" in line["message"]]
        assert sms_lines
        assert all(line["request_id"] == "trace-7" for line in sms_lines)
        # the phone is masked in the log line
        assert all("13800138000" not in line["message"] for line in lines)
