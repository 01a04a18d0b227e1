"""Django settings for FreshLoop, built from the typed environment in config/env.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.utils.module_loading import import_string

from config.database import database_settings
from config.env import BASE_DIR, load_settings

FRESHLOOP = load_settings()

SRC_DIR = BASE_DIR / "src"
if str(SRC_DIR) not in sys.path:
    sys.path.insert(0, str(SRC_DIR))

SECRET_KEY = FRESHLOOP.secret_key
DEBUG = FRESHLOOP.debug
ALLOWED_HOSTS = FRESHLOOP.allowed_hosts
if FRESHLOOP.environment == "test":
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
CSRF_TRUSTED_ORIGINS = FRESHLOOP.csrf_trusted_origins

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "huey.contrib.djhuey",
    "ninja",
    "freshloop.core",
    "freshloop.identity",
    "freshloop.messaging",
    "freshloop.catalog",
    "freshloop.inventory",
    "freshloop.promotions",
    "freshloop.membership",
    "freshloop.content",
    "freshloop.orders",
    "freshloop.payments",
    "freshloop.fulfillment",
    "freshloop.live",
    "freshloop.groupbuy",
    "freshloop.food",
    "freshloop.datahub",
    "freshloop.intelligence",
    "freshloop.scrm",
    "freshloop.community",
    "freshloop.web",
]

MIDDLEWARE = [
    # Outermost, so it closes connections after every other middleware is done with the
    # response: SessionMiddleware saves the session on the way out, and below it that
    # connection was left open (tests/core/test_middleware.py counts them on PostgreSQL).
    "freshloop.core.middleware.AsgiCloseConnectionsMiddleware",
    "freshloop.core.middleware.RequestIdMiddleware",
    "freshloop.core.middleware.ApiErrorShapeMiddleware",
    "freshloop.core.middleware.BodySizeLimitMiddleware",
    "freshloop.core.middleware.NulCharacterMiddleware",
    "freshloop.core.middleware.DependencyOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "freshloop.core.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database = database_settings(
    FRESHLOOP.database_url,
    data_dir=FRESHLOOP.data_dir,
    pool_max=FRESHLOOP.db_pool_max,
    persistent=FRESHLOOP.environment != "test",
)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # One file per test process, so parallel runs (and xdist workers) never share a database.
    _database["TEST"] = {"NAME": str(FRESHLOOP.data_dir / f"test_freshloop_{os.getpid()}.sqlite3")}
DATABASES = {"default": _database}

# Data hub: the analytics event store (DuckDB) and its write-ahead buffer's flusher.
DATAHUB_STORE_PATH = Path(
    FRESHLOOP.datahub_store
    or FRESHLOOP.data_dir
    / "datahub"
    / (f"test_events_{os.getpid()}.duckdb" if FRESHLOOP.environment == "test" else "events.duckdb")
)
# Where the demo seed keeps the write keys it created (tests get their own file, so a test run
# never overwrites the keys of the developer's demo).
DATAHUB_DEMO_KEYS_FILE = FRESHLOOP.data_dir / (
    f"test_demo_write_keys_{os.getpid()}.json"
    if FRESHLOOP.environment == "test"
    else "demo_write_keys.json"
)
DATAHUB_AUTOFLUSH = FRESHLOOP.datahub_autoflush
DATAHUB_FLUSH_INTERVAL_SECONDS = FRESHLOOP.datahub_flush_interval_seconds
DATAHUB_DEDUPE_DAYS = FRESHLOOP.datahub_dedupe_days
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if FRESHLOOP.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": FRESHLOOP.redis_url,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if FRESHLOOP.environment == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = FRESHLOOP.data_dir / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or FRESHLOOP.environment == "test"
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
# Uploaded pictures (product images, live covers; core/images.py). The app serves /media/ itself
# for development and the demo; production puts a CDN or object storage in front
# (docs/operator-guide.md).
MEDIA_URL = "/media/"
MEDIA_ROOT = FRESHLOOP.data_dir / "media"
MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
# In tests and development, serve straight from the app folders without collectstatic.
WHITENOISE_USE_FINDERS = FRESHLOOP.environment != "production"
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"

# Request bodies above this get a JSON 413 from BodySizeLimitMiddleware before any view runs.
DATA_UPLOAD_MAX_MEMORY_SIZE = FRESHLOOP.max_body_bytes

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# SAMEORIGIN: the live room shows the payment cashier in a frame so the viewer never leaves it.
X_FRAME_OPTIONS = "SAMEORIGIN"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Machine-to-machine callbacks are never redirected to https: WeChat Pay, Alipay and the SMS
# providers do not follow a 301, so a proxy that drops X-Forwarded-Proto would silently lose
# payments and receipts. The body has already crossed the wire by then, so a redirect protects
# nothing; each callback is verified by its own signature. Any provider callback mounted
# under /api/v1/ goes under a `notify` or `receipt(s)` path segment to be covered
# (/api/v1/payments/notify/<provider>[/refund], /api/v1/<module>/.../receipts/<provider>).
# Patterns are searched in the path without its leading slash (SecurityMiddleware).
SECURE_REDIRECT_EXEMPT = [r"^api/v1/(?:[^/]+/)*(?:notify|receipts?)(?:/|$)"]
if FRESHLOOP.behind_tls:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

if FRESHLOOP.redis_url:
    HUEY: dict[str, Any] = {
        "huey_class": "huey.RedisHuey",
        "name": "freshloop",
        "url": FRESHLOOP.redis_url,
        "immediate": FRESHLOOP.huey_immediate,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "freshloop",
        "filename": str(FRESHLOOP.data_dir / "huey.sqlite3"),
        "immediate": FRESHLOOP.huey_immediate,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
if FRESHLOOP.huey_immediate:
    # Immediate mode runs tasks inline and keeps results in memory, so tests need no worker.
    HUEY = {"huey_class": "huey.MemoryHuey", "name": "freshloop", "immediate": True}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "freshloop.core.logging.RequestIdFilter"},
        "dependency_outage": {"()": "freshloop.core.logging.DependencyOutageFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "dependency_outage"],
            "formatter": FRESHLOOP.log_format,
        }
    },
    "root": {"handlers": ["console"], "level": FRESHLOOP.log_level},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # Handled here (not by run_huey's own handler, which it adds only to a logger without
        # one), so the consumer's lines carry the request-id format and the outage filter.
        # WARNING: a line per task run is noise (what `run_huey --quiet` gave the demo before);
        # retries and failures still show.
        "huey": {"level": "WARNING", "handlers": ["console"], "propagate": False},
    },
}

UNFOLD = {
    "SITE_TITLE": "FreshLoop 后台",
    "SITE_HEADER": "FreshLoop 鲜环",
    "SITE_SYMBOL": "storefront",
    "SHOW_HISTORY": True,
    # Back-office fixes on top of unfold's styles (web/static/web/admin.css).
    "STYLES": [lambda request: import_string("django.templatetags.static.static")("web/admin.css")],
    # The brand green of the console and the H5 site (Tailwind's green scale).
    "COLORS": {
        "primary": {
            "50": "oklch(98.2% .018 155.826)",
            "100": "oklch(96.2% .044 156.743)",
            "200": "oklch(92.5% .084 155.995)",
            "300": "oklch(87.1% .15 154.449)",
            "400": "oklch(79.2% .209 151.711)",
            "500": "oklch(72.3% .219 149.579)",
            "600": "oklch(62.7% .194 149.214)",
            "700": "oklch(52.7% .154 150.069)",
            "800": "oklch(44.8% .119 151.328)",
            "900": "oklch(39.3% .095 152.535)",
            "950": "oklch(26.6% .065 152.934)",
        }
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        # Imported lazily: settings load before the apps registry is ready.
        "navigation": lambda request: import_string(
            "freshloop.web.admin_navigation.sidebar_navigation"
        )(request),
    },
}
