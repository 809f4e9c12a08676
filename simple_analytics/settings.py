"""Django settings: every value comes from an environment variable with an embedded default.

With no environment at all the app runs on a bare machine: SQLite in DATA_DIR, a file cache
shared by the local processes, Huey on SQLite. DATABASE_URL switches to PostgreSQL and
REDIS_URL switches the cache and Huey to Redis. `.env.example` documents every variable;
docs/decisions.md ("Settings") explains the values chosen here.

Grouped by topic; each subsystem's dict is built once, from inputs computed just above it.
Test-time defaults (TESTING) sit next to the setting they change.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

import environ

from accounts import sso
from simple_analytics.env import (
    ConfigError,
    env_bool,
    env_file,
    env_int,
    env_list,
    env_networks,
    env_seconds,
    env_secret,
    env_str,
    secret_key_from_data_dir,
)
from tracking import paths as tracker_paths

if typing.TYPE_CHECKING:  # not `from typing import TYPE_CHECKING`: it would be a setting
    import redis

# --- Core: paths, mode, secrets, hosts ------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# Under pytest: immediate Huey, in-process cache (unless REDIS_URL asks for the real one).
TESTING = env_bool("TESTING", False) or "pytest" in sys.modules

SECRET_KEY = env_secret("SECRET_KEY") or secret_key_from_data_dir(DATA_DIR)
if not DEBUG and len(SECRET_KEY) < 32:
    raise ConfigError("SECRET_KEY must be at least 32 characters (unset it to generate one)")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS must not be empty")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies whose X-Forwarded-For is believed (core.net.client_ip).
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# Public URL of this server in snippets; unset: the request's host (pages), HOST:PORT (CLI).
BASE_URL = env_str("BASE_URL", "").rstrip("/")
if BASE_URL and not BASE_URL.startswith(("http://", "https://")):
    raise ConfigError("BASE_URL must start with http:// or https:// (https://stats.example.com)")
# Where the tracking script is served (its full build beside it: /x.js -> /x.full.js) and
# where it sends events; renamed, so a site can proxy both from its own domain (README).
TRACKER_SCRIPT_PATH = env_str("TRACKER_SCRIPT_PATH", tracker_paths.DEFAULT_SCRIPT_PATH)
TRACKER_ENDPOINT_PATH = env_str("TRACKER_ENDPOINT_PATH", tracker_paths.DEFAULT_ENDPOINT_PATH)
_tracker_problem = tracker_paths.problem(TRACKER_SCRIPT_PATH, TRACKER_ENDPOINT_PATH)
if _tracker_problem:
    raise ConfigError(_tracker_problem)
# Also serve /pixel.js, /pixel.full.js and /api/event (snippets already pasted keep working).
TRACKER_LEGACY_PATHS = env_bool("TRACKER_LEGACY_PATHS", True)

ROOT_URLCONF = "simple_analytics.urls"
WSGI_APPLICATION = "simple_analytics.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Processes: `serve` (granian) and `worker` (Huey consumer) ------------------------------------
HOST = env_str("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000, minimum=1)
# One web worker by default: with the jobs as its threads the app is two processes (memory).
WEB_WORKERS = env_int("WEB_WORKERS", 1, minimum=1)
# Ingestion requests wait for a shared group commit: more threads, larger (cheaper) commits.
WEB_THREADS = env_int("WEB_THREADS", 32, minimum=1)
# Run the job consumer and scheduler as threads of the one web worker. None (unset): do so
# whenever there is one web worker.
JOBS_IN_WEB = env_bool("JOBS_IN_WEB", None)
if JOBS_IN_WEB and WEB_WORKERS != 1:
    raise ConfigError("JOBS_IN_WEB=True needs WEB_WORKERS=1 (one scheduler per host)")
WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 2, minimum=1)
# Slow clients (simple_analytics.front): a request's headers must arrive within this many
# seconds of the connection, its body within this many seconds of the headers (else 408).
REQUEST_HEADER_TIMEOUT_SECONDS = env_seconds("REQUEST_HEADER_TIMEOUT_SECONDS", 15, maximum=60)
REQUEST_BODY_TIMEOUT_SECONDS = env_seconds("REQUEST_BODY_TIMEOUT_SECONDS", 5, maximum=60)
# Requests in progress from one client address (IPv6: its /64); more get 429. 0: no bound.
MAX_REQUESTS_PER_CLIENT = env_int("MAX_REQUESTS_PER_CLIENT", 64, minimum=0)
# Larger bodies are answered 413 unread (the largest form here is a few KiB).
REQUEST_MAX_BODY_BYTES = 1024 * 1024

# --- Apps and middleware --------------------------------------------------------------------------
INSTALLED_APPS = [
    # django.contrib.admin whose login page is allauth's (second factor, rate limits).
    "accounts.admin_site.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    # Always installed (their tables exist); nothing shows or calls out without OIDC_ISSUER_URL.
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "csp",
    "simple_analytics",
    "accounts",
    "core",
    "teams",
    "websites",
    "tracking",
    "goals",
    "stats",
    "dashboard",
    "api",
    "rollups",
    "jobs",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside the others, so responses an outer middleware answers itself (CommonMiddleware's
    # 400 for a Host we do not serve) carry the Content-Security-Policy too.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session: a GET reads its session from the replica too (when configured).
    "core.replica.ReplicaReadsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

# --- Templates and static files -------------------------------------------------------------------
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "simple_analytics" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "teams.context_processors.teams",
            ],
        },
    },
]

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Database: SQLite in DATA_DIR, or DATABASE_URL ------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "")
_db_url: dict[str, Any] = (
    environ.Env.db_url_config(DATABASE_URL)
    if DATABASE_URL
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"}
)
_db_options: dict[str, Any] = _db_url.get("OPTIONS", {})
# False behind a pooler that keeps no prepared statements across transactions (PgBouncer
# before 1.21 in transaction mode): every statement is then parsed and planned each time.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
_db_tuning: dict[str, Any] = {}
if _db_url["ENGINE"] == "django.db.backends.postgresql":
    _db_tuning = {
        # A bounded pool per process instead of a persistent connection per request thread.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            **_db_options,
            # Short waits: while PostgreSQL is down, requests fail fast and it is back in 2 s.
            "pool": {
                "min_size": 1,
                "max_size": env_int("DB_POOL_SIZE", 8, minimum=2),
                "timeout": env_seconds("DB_POOL_TIMEOUT", 1.5),
                "reconnect_timeout": 2.0,
            },
            # psycopg's default, which Django turns off: only server-bound statements (the
            # ingest writer's, tracking/sql.py) are ever prepared.
            "prepare_threshold": (
                _db_options.get("prepare_threshold", 5) if DATABASE_PREPARED_STATEMENTS else None
            ),
            "connect_timeout": _db_options.get("connect_timeout", 3),
        },
        # Replace connections PostgreSQL closed while they sat in the pool (a restart).
        "CONN_HEALTH_CHECKS": True,
    }
elif _db_url["ENGINE"] == "django.db.backends.sqlite3":
    _db_tuning = {
        "OPTIONS": {
            **_db_options,
            # IMMEDIATE takes the write lock at BEGIN: writers queue on busy_timeout instead
            # of failing with "database is locked" when a read lock is upgraded.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        },
    }
    if TESTING:
        # A file, not shared-cache memory: the ingest writer thread and the live test
        # server need SQLite's normal locking between connections.
        _db_tuning["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DATABASES = {"default": {**_db_url, **_db_tuning}}
# A streaming replica for dashboard and API reads (core.replica); writes stay on the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    if _db_url["ENGINE"] != "django.db.backends.postgresql":
        raise ConfigError("DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL")
    DATABASES["replica"] = {
        **_db_url,
        **_db_tuning,
        **environ.Env.db_url_config(DATABASE_REPLICA_URL),
        "TEST": {"MIRROR": "default"},
    }
    DATABASES["replica"]["OPTIONS"] = _db_tuning["OPTIONS"]
    DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]

# --- Cache: a file cache in DATA_DIR, or REDIS_URL ------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
_default_cache: dict[str, Any]
if REDIS_URL:
    _default_cache = {
        "BACKEND": "core.redis_cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sa",
        # A Redis that stops answering fails fast instead of holding request threads: the
        # rate limiter then lets events through (fail open) and the cache misses.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
elif TESTING:
    _default_cache = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
else:
    # Shared by the web server and the job consumer (separate processes) without
    # contending for SQLite's single write lock.
    _default_cache = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
    }
CACHES = {"default": _default_cache}


# --- Jobs (Huey): on SQLite in DATA_DIR, or on REDIS_URL ------------------------------------------
def _huey_redis_pool(url: str) -> redis.ConnectionPool:
    # Imported here so the embedded default never loads redis-py.
    import redis

    return redis.ConnectionPool.from_url(url, socket_connect_timeout=1, socket_timeout=5)


_huey_storage: dict[str, Any]
_huey_connection: dict[str, Any]
if REDIS_URL:
    _huey_storage = {"huey_class": "huey.RedisHuey", "name": "simple-analytics"}
    # Huey's own pool has no timeouts; these bound every enqueue (the ingest writer's, after
    # each commit) when Redis does not answer. The consumer's blocking read waits 1 s.
    _huey_connection = {"connection_pool": _huey_redis_pool(REDIS_URL)}
else:
    _huey_storage = {
        "huey_class": "huey.SqliteHuey",
        "name": "simple-analytics",
        "filename": str(DATA_DIR / "huey.sqlite3"),
    }
    _huey_connection = {}
HUEY = {
    **_huey_storage,
    "immediate": TESTING,
    "utc": True,
    "consumer": {
        "workers": WORKER_CONCURRENCY,
        "worker_type": "thread",
        # SIGTERM lets running jobs finish (up to 20 s) instead of abandoning them half-way.
        "graceful_signal": "TERM",
        "shutdown_timeout": 20,
        # Huey's locks never expire: every consumer clears these at start, or a consumer
        # killed mid-job would block the job for good (safe: the jobs serialise anyway).
        "extra_locks": "rollup-all,prune-all",
        # An idle worker polls at least once a second (Huey's default backs off to 10 s), so
        # a refresh starts within a second of its time and a dashboard updates within 15 s.
        "max_delay": 1.0,
    },
    **_huey_connection,
}
# Seconds a burst of events waits before the per-website refresh job runs.
REFRESH_DEBOUNCE_SECONDS = env_int("REFRESH_DEBOUNCE_SECONDS", 7, minimum=0)

# --- Ingestion (tracking/) ------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = 8 * 1024
INGEST_MAX_URL_CHARS = 2048
SESSION_IDLE_MINUTES = 30
SALT_KEEP_DAYS = 2
# Group commit: a writer thread per process batches concurrent events into one transaction.
# Tests write inline, in the request's transaction, unless they exercise the group commit.
INGEST_GROUP_COMMIT = env_bool("INGEST_GROUP_COMMIT", not TESTING)
# Writer threads per process. One: batches grow with the load while a commit waits for disk.
INGEST_WRITERS = env_int("INGEST_WRITERS", 1, minimum=1)
# Most events a group commit writes in one transaction.
INGEST_BATCH_MAX = env_int("INGEST_BATCH_MAX", 500, minimum=1)
# An event not committed after this long is answered 503 + Retry-After (nothing stored),
# unless the writers are still committing others (then it waits on, up to 10 s).
INGEST_TIMEOUT_SECONDS = env_seconds("INGEST_TIMEOUT_SECONDS", 1.5)
# Events per minute from one client IP (IPv6: its /64) and to one website; over a limit: 429.
# 0 switches a limit off; off under the test suite (the rate-limit tests switch them on).
INGEST_RATE_LIMIT_IP = env_int("INGEST_RATE_LIMIT_IP", 0 if TESTING else 600, minimum=0)
INGEST_RATE_LIMIT_WEBSITE = env_int(
    "INGEST_RATE_LIMIT_WEBSITE", 0 if TESTING else 300_000, minimum=0
)
# Page views (PAGE_VIEW, PATH_CHANGE) one session may add per minute; more are dropped and
# counted as rate_limited. 0: no cap.
INGEST_SESSION_PAGEVIEWS_PER_MINUTE = env_int("INGEST_SESSION_PAGEVIEWS_PER_MINUTE", 60, minimum=0)
# Requests with `DNT: 1` or `Sec-GPC: 1` are answered 202 and not stored (do_not_track).
HONOR_DNT = env_bool("HONOR_DNT", True)
# A MaxMind-format City database (GeoLite2-City, DB-IP City Lite) for regions and cities;
# without it the country comes from the data embedded in iptocc. Checked at start.
GEOIP_DATABASE = env_str("GEOIP_DATABASE", "")

# --- Stats, snapshots and retention (rollups/, stats/) --------------------------------------------
# Raw events and sessions are deleted after this many days, once rolled up (at least 7).
RAW_RETENTION_DAYS = env_int("RAW_RETENTION_DAYS", 30, minimum=7)
HOURLY_RETENTION_DAYS = env_int("HOURLY_RETENTION_DAYS", 7, minimum=2)
DAILY_RETENTION_DAYS = env_int("DAILY_RETENTION_DAYS", 730, minimum=30)
# Reads trust the snapshot of a not-yet-closed day if the refresh job wrote it this
# recently; otherwise (worker stopped, no traffic) that day is computed from raw data.
OPEN_SNAPSHOT_MAX_AGE_SECONDS = env_int("OPEN_SNAPSHOT_MAX_AGE_SECONDS", 120, minimum=0)
# Cached answers of periods that include today expire after this many seconds even when
# no refresh job replaced them (a fresh refresh replaces them sooner).
STATS_LIVE_CACHE_SECONDS = env_int("STATS_LIVE_CACHE_SECONDS", 60, minimum=0)
# Off under tests that write events and read them back at once (its freshness comes from
# the refresh job); the cache tests turn it on.
STATS_CACHE = not TESTING

# --- Accounts (django-allauth) and API keys -------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Real hashing costs ~0.3 s per user; tests create hundreds.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Anyone may sign up unless this is False (then only `createuser` makes accounts).
REGISTRATION_OPEN = env_bool("REGISTRATION_OPEN", True)
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# False: no password form, and password login, sign-up and reset are refused (SSO only).
PASSWORD_LOGIN = env_bool("PASSWORD_LOGIN", True)
ACCOUNT_FORMS = {"reset_password": "accounts.password_forms.ResetPasswordForm"}

# Single sign-on with OpenID Connect (accounts.sso; README "Single sign-on").
OIDC_ISSUER_URL = env_str("OIDC_ISSUER_URL", "").rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_file("OIDC_CLIENT_SECRET_FILE")
# Empty: any verified email the provider vouches for may sign in (and sign up).
OIDC_ALLOWED_EMAIL_DOMAINS = env_list("OIDC_ALLOWED_EMAIL_DOMAINS", [])
OIDC_NAME = env_str("OIDC_NAME", "Single sign-on")
_sso_problem = sso.problem(
    issuer_url=OIDC_ISSUER_URL, client_id=OIDC_CLIENT_ID, secret=OIDC_CLIENT_SECRET
)
if _sso_problem:
    raise ConfigError(_sso_problem)
if not PASSWORD_LOGIN and not OIDC_ISSUER_URL:
    raise ConfigError("PASSWORD_LOGIN=False needs OIDC_ISSUER_URL: nobody could log in")
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = sso.providers_setting(
    issuer_url=OIDC_ISSUER_URL, client_id=OIDC_CLIENT_ID, secret=OIDC_CLIENT_SECRET, name=OIDC_NAME
)
# An existing account whose email the provider vouches for is logged in and connected
# (allauth wipes its password if that address was never verified here: docs/SECURITY.md).
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:websites"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# Written out rather than left to allauth's defaults, so they are reviewed here. "ip" is a
# keyed hash of the client IP as ingestion sees it (accounts.adapters.AccountAdapter).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
    "confirm_email": "1/3m/key",
}
# Wrong or revoked stats-API keys from one client IP in a minute before all its API requests
# get 429 + Retry-After until the minute is over (0: no limit).
API_KEY_FAILURES_PER_MINUTE = env_int("API_KEY_FAILURES_PER_MINUTE", 20, minimum=0)
# API keys one user may create per hour (the key management page).
API_KEYS_CREATED_PER_HOUR = 20
# Share links (dashboard.share), 0 = no limit: requests per minute of one client (its IP)
# and of one link, and failures (unknown tokens, wrong passwords) per minute of one client.
SHARE_REQUESTS_PER_MINUTE = env_int("SHARE_REQUESTS_PER_MINUTE", 120, minimum=0)
SHARE_LINK_REQUESTS_PER_MINUTE = env_int("SHARE_LINK_REQUESTS_PER_MINUTE", 600, minimum=0)
SHARE_FAILURES_PER_MINUTE = env_int("SHARE_FAILURES_PER_MINUTE", 10, minimum=0)

# --- Email: printed to the console unless EMAIL_HOST is set (then SMTP) ---------------------------
EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    # Seconds per SMTP operation: a hung server must not hold a request or a job forever.
    EMAIL_TIMEOUT = 30
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Without SMTP no confirmation link can reach anyone: two-factor must not wait for one
# (the trade-off is in docs/SECURITY.md, "Email and two-factor").
MFA_ALLOW_UNVERIFIED_EMAIL = not EMAIL_HOST
# How long a team invitation's link opens (teams.services.invitation_create).
INVITATION_DAYS = env_int("INVITATION_DAYS", 7, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Simple Analytics <noreply@localhost>")
# Local hour (the website's time zone) from which weekly and monthly email reports go out.
EMAIL_REPORTS_HOUR = env_int("EMAIL_REPORTS_HOUR", 7, minimum=0)
if EMAIL_REPORTS_HOUR > 23:
    raise ConfigError("EMAIL_REPORTS_HOUR must be an hour from 0 to 23")

# --- Security: HTTPS, cookies, Content Security Policy --------------------------------------------
# HTTPS is off by default so `make run` works over plain http; behind TLS, the documented
# values make `manage.py check --deploy` clean with no check silenced.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe /healthz on the app's own plain-http port.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Cookies only over https once the site is served over https (redirect or TLS proxy).
_SERVED_OVER_HTTPS = SECURE_SSL_REDIRECT or SECURE_PROXY_SSL_HEADER is not None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _SERVED_OVER_HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _SERVED_OVER_HTTPS)

# No inline scripts or styles anywhere (django-csp).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *sso.form_action_sources(OIDC_ISSUER_URL)],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # A handler of its own stops the huey consumer from adding a second one.
    "loggers": {"huey": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
