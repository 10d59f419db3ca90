"""Settings for the margin sandbox: one file, driven by the environment.

Embedded defaults (SQLite, the in-memory channel layer) run everything in one process on
a laptop. Every setting that a deployment may change reads an environment variable; the
README lists them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("SANDBOX_LOCAL_DIR", BASE_DIR / ".local"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _private_local_dir() -> None:
    """.local/ holds the secret key and the database: readable by this user only (0700),
    made so at startup if it was created before."""
    LOCAL_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # someone else's directory: left as it is
        if LOCAL_DIR.stat().st_mode & 0o077:
            LOCAL_DIR.chmod(0o700)


def _secret_key() -> str:
    """SANDBOX_SECRET_KEY, or a key generated on first run and kept in .local/."""
    given = os.environ.get("SANDBOX_SECRET_KEY")
    if given:
        return given
    path = LOCAL_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    _private_local_dir()
    key = secrets.token_urlsafe(50)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(key)
    return key


def _allowed_hosts() -> list[str]:
    hosts = ["127.0.0.1", "localhost", "[::1]", *env_list("SANDBOX_ALLOWED_HOSTS")]
    bind = os.environ.get("HOST", "")
    if bind and bind not in ("0.0.0.0", "::"):
        hosts.append(bind)
    elif bind:
        # Serving a classroom network: accept this machine's own names and addresses.
        name = socket.gethostname()
        hosts.append(name)
        with contextlib.suppress(OSError):
            hosts.extend(socket.gethostbyname_ex(name)[2])
    return hosts


SECRET_KEY = _secret_key()
DEBUG = env_bool("SANDBOX_DEBUG")
ALLOWED_HOSTS = _allowed_hosts()
CSRF_TRUSTED_ORIGINS = env_list("SANDBOX_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "channels",
    "sandbox.desk",
    "sandbox.live",
    "sandbox.lessons",
    "sandbox.classroom",
]

MIDDLEWARE = [
    "sandbox.middleware.server_timing",
    "sandbox.security.content_security_policy",
    # Pages and fragments gzipped (Django adds random bytes to each against BREACH; the
    # CSRF token is masked anew in every answer anyway).
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files: the collected ones, before sessions and the rest (sandbox/staticfiles.py).
    "sandbox.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "sandbox.urls"
ASGI_APPLICATION = "sandbox.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sandbox.desk.context_processors.roles",
            ],
        },
    }
]


def _pool_size() -> int:
    """SANDBOX_DB_POOL_SIZE: the most PostgreSQL connections one process holds."""
    given = os.environ.get("SANDBOX_DB_POOL_SIZE", "10").strip()
    if not given.isascii() or not given.isdigit() or not 2 <= int(given) <= 1000:
        raise ImproperlyConfigured(
            f"SANDBOX_DB_POOL_SIZE must be a whole number from 2 to 1000, not {given!r}"
        )
    return int(given)


def _database(url: str) -> dict[str, Any]:
    """DATABASE_URL (postgres://user:password@host:port/name?sslmode=...) for Django."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// address, not {parts.scheme}"
        )
    options = dict(parse_qsl(parts.query))
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": options.pop("host", parts.hostname or ""),
        "PORT": str(parts.port or ""),
        # A request's connection goes back to the process's pool at its end (the request
        # threads, sandbox.handlers, keep only SQLite connections open between requests):
        # each process keeps a pool (psycopg_pool), and a request borrows a connection
        # and gives it back. The pool checks a connection before lending it.
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {**options, "pool": {"min_size": 2, "max_size": _pool_size()}},
    }


DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": _database(DATABASE_URL)}
else:
    _private_local_dir()
    DATABASES = {
        "default": {
            # Django's SQLite backend, creating the database file readable by this user
            # only (0600): it holds password hashes.
            "ENGINE": "sandbox.sqlite",
            "NAME": os.environ.get("SANDBOX_SQLITE_PATH", str(LOCAL_DIR / "sandbox.sqlite3")),
            # IMMEDIATE transactions take the write lock at BEGIN, so two requests that read
            # and then change the same account are serialised instead of racing.
            # WAL: readers (every page, every tick's desks) never wait for a writer, and a
            # commit appends to the log instead of rewriting pages. NORMAL sync keeps the
            # database consistent after a crash; a power cut may lose the last commits.
            # Closed at the end of a request that runs in a thread of its own (the test
            # server, management commands). Under daphne the requests run in a few kept
            # threads (sandbox.handlers) and the live market's in threads of its own
            # (sandbox.live.threads), and each of those keeps its connection open from one
            # call to the next itself, closing it after a database error.
            "CONN_MAX_AGE": 0,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not memory, so a live server process in the browser tests shares it;
            # one per test run, so two runs never share it.
            "TEST": {"NAME": str(LOCAL_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Several processes: the pub/sub layer sends a group message with one PUBLISH, and the
    # cache (join rate limits) is shared.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    # (Counted in each process's memory while Redis is away, rather than answering 500.)
    CACHES = {"default": {"BACKEND": "sandbox.cache.FallbackRedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `manage.py collectstatic` (run by `make setup`) copies them here, each also under a name
# with a hash of its content, gzipped; the pages link the hashed names, which browsers
# may keep for a year (WhiteNoise serves them, from the app itself: the classroom runs
# offline). The server refuses to start without them (sandbox/staticfiles.py).
STATIC_ROOT = Path(os.environ.get("SANDBOX_STATIC_ROOT", LOCAL_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# /favicon.ico, for browsers that ask for it whatever the page says.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

# Request size. A body over these limits is answered 413 with a sentence before it is read
# (sandbox/limits.py: daphne refuses it as the headers arrive); the biggest form is a few
# hundred bytes. Django's own limits agree, for any server.
SANDBOX_MAX_REQUEST_BYTES = 64 * 1024  # every request but a lesson upload
SANDBOX_MAX_LESSON_FILE_BYTES = 1024 * 1024  # a lesson file (its form may add 16 KB)
DATA_UPLOAD_MAX_MEMORY_SIZE = SANDBOX_MAX_REQUEST_BYTES  # a form's fields, files excluded
FILE_UPLOAD_MAX_MEMORY_SIZE = SANDBOX_MAX_LESSON_FILE_BYTES  # an upload stays in memory
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
DATA_UPLOAD_MAX_NUMBER_FILES = 1

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "sandbox.desk.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# SANDBOX_HTTPS=1: the site is served over HTTPS, by a proxy that ends TLS and says so in
# X-Forwarded-Proto (the README's nginx). Every cookie is then Secure (the account cookies
# of sandbox.desk.accounts too) and browsers are told to use HTTPS only for a year
# (HSTS). The proxy redirects plain HTTP, so Django does not (SECURE_SSL_REDIRECT off).
SANDBOX_HTTPS = env_bool("SANDBOX_HTTPS")
SESSION_COOKIE_SECURE = SANDBOX_HTTPS
CSRF_COOKIE_SECURE = SANDBOX_HTTPS
SECURE_SSL_REDIRECT = False
if SANDBOX_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SANDBOX_HSTS_INCLUDE_SUBDOMAINS")

# What a new paper account starts with, per settle currency.
SANDBOX_STARTING_BALANCES = {"USDT": Decimal("10000"), "XBT": Decimal("1")}
# The mark price each instrument starts at on a new practice market.
SANDBOX_STARTING_MARKS = {
    "XBTUSDT": Decimal("60000"),
    "ETHUSDT": Decimal("3000"),
    "SOLUSDT": Decimal("150"),
    "XBTUSD": Decimal("60000"),
}
SANDBOX_DEFAULT_SYMBOL = "XBTUSDT"

# The live market. "embedded" runs the ticker inside the web server (one process does
# everything); "off" leaves it to `python manage.py runticker`.
SANDBOX_TICKER = os.environ.get("SANDBOX_TICKER", "embedded")
SANDBOX_LEASE_SECONDS = int(os.environ.get("SANDBOX_LEASE_SECONDS", "5"))
SANDBOX_WATCH_SECONDS = 30  # a practice market keeps ticking this long after it was watched
# A ticker keeps the accounts of a market this large in memory between ticks
# (sandbox.live.kept); a smaller one is read on each realisation or funding tick.
SANDBOX_KEEP_ACCOUNTS_FROM = int(os.environ.get("SANDBOX_KEEP_ACCOUNTS_FROM", "1000"))
# Such a market's realisation and funding ticks are shared with a helper process
# (sandbox.live.shares), started by the ticker; "off" computes them in the ticker alone.
SANDBOX_TICK_HELPER = os.environ.get("SANDBOX_TICK_HELPER", "on")
# Threads that draw the live desks' pushes (each market's feed draws in them, apart from
# the ticker's thread and from the thread Channels gives every socket's database work).
SANDBOX_DRAW_THREADS = 2
# A server process limits glibc to one malloc arena and gives freed memory back every
# second (sandbox.startup.tune_memory: a class of 300 desks costs a third less memory);
# SANDBOX_MALLOC_TUNING=off leaves the allocator as it is.
SANDBOX_MALLOC_TUNING = env_bool("SANDBOX_MALLOC_TUNING", default=True)
# Margin call: warn when the mark is within this many percent of the liquidation price,
# and raise the alarm within the second.
SANDBOX_MARGIN_CALL_PERCENT = Decimal(os.environ.get("SANDBOX_MARGIN_CALL_PERCENT", "5"))
SANDBOX_MARGIN_DANGER_PERCENT = Decimal(os.environ.get("SANDBOX_MARGIN_DANGER_PERCENT", "2"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SANDBOX_LOG_LEVEL", "INFO")},
}
