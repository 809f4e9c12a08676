"""Django settings: every value comes from an environment variable with an embedded default.

With no environment at all the app runs on a bare machine: SQLite in DATA_DIR, a file cache
shared by the local processes, Huey on SQLite. DATABASE_URL switches to PostgreSQL and
REDIS_URL switches the cache and Huey to Redis. `.env.example` documents every variable.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import environ

from simple_analytics.env import (
    ConfigError,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    secret_key_from_data_dir,
)

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

HOST = env_str("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000, minimum=1)
# Threads per web worker. Ingestion requests wait for a shared group commit, so the more
# requests a worker holds at once, the larger (and cheaper per event) each commit is.
WEB_THREADS = env_int("WEB_THREADS", 32, minimum=1)
WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 2, minimum=1)

try:
    TRUSTED_PROXIES = [
        ipaddress.ip_network(cidr, strict=False) for cidr in env_list("TRUSTED_PROXIES", [])
    ]
except ValueError as exc:
    raise ConfigError(f"TRUSTED_PROXIES must be a comma-separated list of CIDRs: {exc}") from None

INSTALLED_APPS = [
    "django.contrib.admin",
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
    "csp",
    "simple_analytics",
    "accounts",
    "core",
    "websites",
    "tracking",
    "stats",
    "dashboard",
    "api",
    "rollups",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "simple_analytics.urls"
WSGI_APPLICATION = "simple_analytics.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
_env = environ.Env()
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": _env.db_url_config(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A bounded psycopg pool per process: granian runs WEB_THREADS request threads per
        # worker, and one persistent connection per thread would exhaust PostgreSQL's
        # max_connections as soon as a few hosts scale out. Requests borrow and return.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env_int("DB_POOL_SIZE", 8, minimum=2),
            "timeout": 20,
        }
        # Django turns psycopg's prepared statements off (threshold None), and then
        # ``execute(..., prepare=True)`` is ignored too. psycopg's default instead: only
        # statements bound on the server are ever prepared, i.e. the ingest writer's
        # (tracking/sql.py); Django's own cursors bind on the client and never are.
        # Behind PgBouncer in transaction mode, set its max_prepared_statements (1.21+).
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue on busy_timeout
            # instead of failing with "database is locked" when a read lock is upgraded.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and jobs --------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "sa",
        }
    }
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "simple-analytics",
        "url": REDIS_URL,
        "immediate": False,
        "utc": True,
        "consumer": {"workers": WORKER_CONCURRENCY, "worker_type": "thread"},
    }
else:
    CACHES = {
        "default": {
            # The web server and the job consumer are separate processes: a file cache is
            # shared between them without contending for SQLite's single write lock.
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "simple-analytics",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
        "utc": True,
        "consumer": {"workers": WORKER_CONCURRENCY, "worker_type": "thread"},
    }
if TESTING:
    HUEY["immediate"] = True
    # Real hashing costs ~0.3 s per user; tests create hundreds.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if not REDIS_URL:
        CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # A file, not shared-cache memory: the ingest writer thread and the live test
        # server need SQLite's normal locking (busy_timeout) between connections.
        DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# Seconds a burst of events waits before the per-website refresh job runs.
REFRESH_DEBOUNCE_SECONDS = env_int("REFRESH_DEBOUNCE_SECONDS", 10, minimum=0)

# --- Ingestion -------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = 8 * 1024
INGEST_MAX_URL_CHARS = 2048
SESSION_IDLE_MINUTES = 30
# Group commit: a writer thread per process batches concurrent events into one
# transaction. Tests write inline (in the request's thread and transaction) unless they
# exercise the group commit itself.
INGEST_GROUP_COMMIT = env_bool("INGEST_GROUP_COMMIT", not TESTING)
# Writer threads per process. One: a commit's wait for the disk is when the next batch
# gathers, so batches grow with the load (bench/ingest.py, c=64: 1 writer 2,699 events/s,
# 3 writers 2,272/s, smaller batches with the same per-batch cost; docs/PERFORMANCE.md).
# More lets several commits of one process be in flight at once on PostgreSQL; SQLite has
# a single write lock.
INGEST_WRITERS = env_int("INGEST_WRITERS", 1, minimum=1)
# Most events a group commit writes in one transaction.
INGEST_BATCH_MAX = env_int("INGEST_BATCH_MAX", 500, minimum=1)
SALT_KEEP_DAYS = 2

# --- Ingestion hardening (issue 5) ----------------------------------------------------
# Events per minute from one client IP (an IPv6 client: its /64) and to one website, in
# fixed one-minute windows counted in the cache (on Redis: shared by every web process and
# host). Over a limit the answer is 429 with Retry-After; 0 switches a limit off. The
# website default is above what one server can ingest: it guards a scaled-out deployment
# against one site's flood, never a busy site. Off under the test suite, which sends
# hundreds of events from one address; the rate-limit tests switch them on.
INGEST_RATE_LIMIT_IP = env_int("INGEST_RATE_LIMIT_IP", 0 if TESTING else 600, minimum=0)
INGEST_RATE_LIMIT_WEBSITE = env_int(
    "INGEST_RATE_LIMIT_WEBSITE", 0 if TESTING else 300_000, minimum=0
)
# Page views (PAGE_VIEW, PATH_CHANGE) one session may add per minute; more are dropped and
# counted as rate_limited (a single-page app stuck in a navigation loop). 0: no cap.
INGEST_SESSION_PAGEVIEWS_PER_MINUTE = env_int("INGEST_SESSION_PAGEVIEWS_PER_MINUTE", 60, minimum=0)
# Requests with `DNT: 1` or `Sec-GPC: 1` are answered 202 and not stored (do_not_track).
HONOR_DNT = env_bool("HONOR_DNT", True)
if REDIS_URL:
    # A Redis that stops answering must fail fast rather than hold request threads: the
    # rate limiter then lets events through (fail open) and the cache misses.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("socket_connect_timeout", 1)
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", 1)

# --- Snapshots, cache and retention (rollups/, stats/) ----------------------------------
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
# Tests that write events and read them back at once turn the stats cache off (its
# freshness is event-driven, through the refresh job); the cache tests turn it on.
STATS_CACHE = not TESTING

# --- Accounts (django-allauth) ---------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
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
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "websites:list"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# Email: printed to the console unless EMAIL_HOST is set (then SMTP).
EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Simple Analytics <noreply@localhost>")

# --- Content Security Policy (django-csp): no inline scripts or styles anywhere ------
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
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Auth, i18n, static ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # A handler of its own stops the huey consumer from adding a second one.
    "loggers": {"huey": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

# --- Security hardening (issue 5) --------------------------------------------------------
# HTTPS. Everything is off by default so `make run` works over plain http on 127.0.0.1; a
# deployment behind TLS turns these on (README, "Configuration") and `manage.py check
# --deploy` is then clean (simple_analytics/tests/test_deploy.py). No check is silenced.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe /healthz on the app's own plain-http port.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Cookies only over https once the site is served over https (redirect or TLS proxy).
_SERVED_OVER_HTTPS = SECURE_SSL_REDIRECT or SECURE_PROXY_SSL_HEADER is not None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _SERVED_OVER_HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _SERVED_OVER_HTTPS)

# The Content-Security-Policy goes right after SecurityMiddleware, outside the others: then
# pages that an outer middleware answers itself (a 400 for a Host we do not serve, from
# CommonMiddleware) carry it too, not only the pages of our views.
MIDDLEWARE.remove("csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "csp.middleware.CSPMiddleware")  # fmt: skip

# allauth's rate limits, written out rather than left to its defaults so they are reviewed
# here. "ip" means the client IP as ingestion sees it (TRUSTED_PROXIES), kept in the cache
# only as a keyed hash (accounts.adapters.AccountAdapter.get_client_ip).
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
# The stats API: wrong or revoked keys sent from one client IP in a minute before that IP
# gets 429 + Retry-After on every API request until the minute is over (0: no limit).
API_KEY_FAILURES_PER_MINUTE = env_int("API_KEY_FAILURES_PER_MINUTE", 20, minimum=0)
# API keys one user may create per hour (the key management page).
API_KEYS_CREATED_PER_HOUR = 20

# --- Fault tolerance (issue 5) -----------------------------------------------------------
# What the fault tests (scripts/faults.py) showed and these settings fix: with the pool's
# defaults a stopped PostgreSQL held ingestion requests for 10-20 s (a borrower waited 20 s
# for a connection; the psycopg pool retried a failed reconnection with exponential backoff
# for up to 5 minutes); Redis, once unreachable rather than refusing, could hold a thread
# for the operating system's connect timeout.


def _env_seconds(name: str, default: float) -> float:
    raw = env_str(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= 3600:
        raise ConfigError(f"{name} must be between 0 and 3600 seconds")
    return value


# Web server processes. One by default, on either database: with the jobs as its threads
# (JOBS_IN_WEB) the whole app is two processes, about 140 MB idle (a second web worker and
# a consumer process of its own add about 170 MB). One worker took 1,770 events/s on
# PostgreSQL in bench/ingest.py on 2 shared cores; a busy site's host sets WEB_WORKERS=2
# or more for about 45% more (docs/PERFORMANCE.md), and then runs the jobs in `worker`.
WEB_WORKERS = env_int("WEB_WORKERS", 1, minimum=1)
# `serve` runs the job consumer and scheduler as threads of its one web worker instead of a
# process of their own: one Python process with Django loaded instead of two (the idle
# memory of the whole app goes from about 225 to about 145 MB). Only with one web worker.
# Unset (None): whenever there is one web worker, so `serve --workers 2` alone runs the
# jobs in a process of their own.
JOBS_IN_WEB = env_bool("JOBS_IN_WEB", None)
if JOBS_IN_WEB and WEB_WORKERS != 1:
    raise ConfigError("JOBS_IN_WEB=True needs WEB_WORKERS=1 (one scheduler per host)")

# An ingestion request whose event is not committed after this long is answered 503 with
# Retry-After (nothing stored; the client retries with its id), unless the writers are
# still committing other events (a slow database, not a stopped one: it then waits on, up
# to 10 s). With PostgreSQL down every answer comes within 2 s (scripts/faults.py).
INGEST_TIMEOUT_SECONDS = _env_seconds("INGEST_TIMEOUT_SECONDS", 1.5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _pool = DATABASES["default"]["OPTIONS"]["pool"]
    # How long a thread waits for a pooled connection. While PostgreSQL is down no
    # connection comes, so this bounds every request that needs one (an ingestion cache
    # miss: 503 within INGEST_TIMEOUT_SECONDS; a dashboard: an error page, not a hang).
    _pool["timeout"] = _env_seconds("DB_POOL_TIMEOUT", 1.5)
    # A failed reconnection gives up after 2 s and the next borrower starts a new attempt
    # at once, instead of the pool backing off 1, 2, 4, 8 ... s (minutes): ingestion is
    # back within a second or two of PostgreSQL.
    _pool["reconnect_timeout"] = 2.0
    # Check a connection when it is borrowed (one empty query): ones PostgreSQL closed while
    # they sat in the pool (a restart) are replaced instead of failing the request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 3)
if REDIS_URL:
    import redis as _redis

    # Huey builds its pool from the URL without timeouts; these bound every enqueue (which
    # ingestion's writer threads do after each commit) when Redis does not answer. The
    # consumer's blocking read waits 1 s, within socket_timeout.
    HUEY.pop("url", None)
    HUEY["connection_pool"] = _redis.ConnectionPool.from_url(
        REDIS_URL, socket_connect_timeout=1, socket_timeout=5
    )
# SIGTERM (service managers, `serve`'s supervisor) lets running jobs finish, up to 20 s:
# huey's default treats SIGTERM as "stop now" and abandons them half-way.
HUEY["consumer"]["graceful_signal"] = "TERM"
HUEY["consumer"]["shutdown_timeout"] = 20
# A consumer killed during rollup_all or prune_all leaves its lock behind (huey's locks
# never expire), and `flush_locks` at the scheduler's start only knows locks taken since
# that process started: the fault test saw rollup_all refused ("unable to acquire lock
# rollup-all") after the killed worker was restarted, for good. Every consumer now clears
# these two at start; two rollups at once are safe (they serialise on the watermark rows),
# the lock only saves duplicate work.
HUEY["consumer"]["extra_locks"] = "rollup-all,prune-all"
