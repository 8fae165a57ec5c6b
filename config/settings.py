"""Runyard settings, read from the environment (see README's configuration table).

Defaults give a self-contained install: SQLite and an embedded Redis under
``RUNYARD_DATA_DIR``. Setting ``DATABASE_URL`` and ``REDIS_URL`` gives the production
shape; no other code path changes.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_float,
    env_int,
    env_json_object,
    env_list,
    env_networks,
    env_path,
    env_redis_url,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("RUNYARD_DATA_DIR", BASE_DIR / ".runyard-data")
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """An explicit SECRET_KEY wins; otherwise one is generated once per data dir."""
    explicit = env_str("SECRET_KEY", "")
    if explicit:
        return explicit
    keyfile = DATA_DIR / "secret_key"
    if not keyfile.exists():
        keyfile.write_text(secrets.token_urlsafe(50))
        keyfile.chmod(0o600)
    return keyfile.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
# Reverse proxies whose X-Forwarded-For (and, with TLS, X-Forwarded-Proto) is believed:
# addresses or networks. Default none: the peer's address is the client's.
TRUSTED_PROXIES = env_networks("RUNYARD_TRUSTED_PROXIES", [])
# Where runs and SDKs reach the API; the default suits a single host.
PUBLIC_URL = env_str("RUNYARD_PUBLIC_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
# What the SDK's Workspace reports as name / location / resource_group / subscription_id
# (Azure's banner cell prints them). A Runyard server has no subscription or resource
# group: they are empty unless the operator names something for them.
WORKSPACE = {
    "NAME": env_str("RUNYARD_WORKSPACE_NAME", "") or PUBLIC_URL.split("://", 1)[-1],
    "REGION": env_str("RUNYARD_WORKSPACE_REGION", "local"),
    "RESOURCE_GROUP": env_str("RUNYARD_WORKSPACE_RESOURCE_GROUP", ""),
    "SUBSCRIPTION_ID": env_str("RUNYARD_WORKSPACE_SUBSCRIPTION_ID", ""),
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "channels",
    "accounts",
    "audit",
    "environments",
    "compute",
    "datasets",
    "registry",
    "runs",
    "scheduling",
    "execution",
    "sweeps",
    "stack",
    "mlflow_api",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "config.middleware.RejectNulInQueryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
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
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{DATA_DIR / 'runyard.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Connections are reused instead of opened per request (config/pooled_sqlite3 says
    # why CONN_MAX_AGE cannot do it under ASGI).
    DATABASES["default"]["ENGINE"] = "config.pooled_sqlite3"
    # WAL + immediate transactions let the web server and the worker write at once;
    # "timeout" is SQLite's busy timeout (a writer waits up to 30 s for the lock).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif env_str("RUNYARD_PROCESS", "") == "web":
    # The web process (config/asgi.py says so) keeps one bounded psycopg pool instead of
    # a persistent connection per thread (uvicorn's thread pool alone held 29 idle
    # connections): it never holds more than RUNYARD_DB_POOL_SIZE; a request that waits
    # longer than the pool timeout answers 503 (config.api.exception_handler). Workers
    # keep plain connections: a pool does not survive Celery's fork of pool processes.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = "runyard-web"
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": env_int("RUNYARD_DB_POOL_SIZE", 8, minimum=1),
        "timeout": env_float("RUNYARD_DB_POOL_TIMEOUT_SECONDS", 10.0, minimum=0.1),
        "max_idle": 60.0,  # idle connections above min_size go back to the server
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_redis = env_redis_url("REDIS_URL")
# Management commands that never talk to Redis must not start the embedded server (and
# leave it running behind them: `make test`'s makemigrations --check did).
_OFFLINE_COMMANDS = {"makemigrations", "migrate", "showmigrations", "sqlmigrate", "spectacular", "check", "help"}
_PROGRAM = Path(sys.argv[0]).name if sys.argv else ""
_OFFLINE = (_PROGRAM == "manage.py" and len(sys.argv) > 1 and sys.argv[1] in _OFFLINE_COMMANDS) or (
    _PROGRAM in ("mypy", "dmypy")  # the django-stubs plugin imports these settings
)
if _redis is None:
    from stack.embedded_redis import ensure_running, socket_path

    _sock = socket_path(DATA_DIR) if _OFFLINE else ensure_running(DATA_DIR)
    REDIS_URL = f"unix://{_sock}"
    CELERY_BROKER_URL = f"redis+socket://{_sock}"
else:
    REDIS_URL = _redis
    CELERY_BROKER_URL = _redis
REDIS_EMBEDDED = _redis is None

CHANNEL_LAYERS = {
    "default": {
        # The core layer (not pubsub): group_add is confirmed before it returns, which
        # the websocket catch-up relies on; dropped batches are refilled from the DB.
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, the same as the layer's
        # blocking BZPOPMIN: under load the idle reply came late and closed the websocket.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "capacity": 2000, "expiry": 60},
    }
}

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "runyard"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A run task is acknowledged when it finishes, so a worker that dies mid-run gives the
# message back; the run's own status (claimed with a conditional update) stops it from
# running twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 24 * 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connections before and after every task unless
# this is set: a run's claim then opened a new PostgreSQL connection (a backend fork, ~5 ms)
# on the path to its first statement. With it, a pool process keeps its connection across
# tasks (Celery still closes it every 2 × this many tasks) and ``execution.tasks`` checks it
# before each task as Django does per request (CONN_MAX_AGE, errors, health check).
CELERY_DB_REUSE_MAX = 500
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# Notification email (notifications.delivery): Django's SMTP backend.
EMAIL_BACKEND = env_str("RUNYARD_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("RUNYARD_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("RUNYARD_SMTP_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("RUNYARD_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_str("RUNYARD_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("RUNYARD_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("RUNYARD_SMTP_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("RUNYARD_EMAIL_FROM", "runyard@localhost")

# Every sign-in (API token, web app session, admin) passes the login limits.
AUTHENTICATION_BACKENDS = ["accounts.login_limits.LimitedModelBackend"]

# Behind TLS (RUNYARD_TLS=true): cookies only over HTTPS, and HSTS. The proxy's
# X-Forwarded-Proto says a request came over HTTPS only when there are trusted proxies.
TLS = env_bool("RUNYARD_TLS", False)
if TLS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("RUNYARD_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("RUNYARD_HSTS_INCLUDE_SUBDOMAINS", False)
    if TRUSTED_PROXIES:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.exists() else None
WHITENOISE_AUTOREFRESH = DEBUG  # pick up a rebuilt app without a restart while developing
MEDIA_ROOT = DATA_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Run tokens are limited by accounts.permissions.RUN_TOKEN_ALLOWED as they are accepted.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.CheckedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.responses.ResponseSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Runyard API",
    "DESCRIPTION": "Create, launch and watch training runs.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["mlflow_api.schema.drop_ajax_api"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs.status.Status",
        "BuildStatusEnum": "environments.models.EnvironmentBuild.Status",
        "InputModeEnum": "runs.models.RunInput.Mode",
        "LogStreamEnum": "runs.models.LogChunk.Stream",
        "MetricKindEnum": "runs.models.Metric.Kind",
        "CauseEnum": "runs.causes.Cause",
        "NotificationEventEnum": "notifications.models.Event",
        "MpiTypeEnum": [("mpi", "mpi")],
        "PyTorchTypeEnum": [("pytorch", "pytorch")],
        "TensorflowTypeEnum": [("tensorflow", "tensorflow")],
        "PriorityEnum": [(n, n) for n in ("low", "normal", "high", "urgent")],
        "BulkActionEnum": "runs.bulk.ACTIONS",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "quiet_housekeeping": {"()": "config.logfilters.QuietHousekeeping"},
        "redact_tokens": {"()": "config.logfilters.RedactTokens"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["quiet_housekeeping", "redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # uvicorn's own handlers print its records: the filter sits on the logger.
        "uvicorn.error": {"filters": ["redact_tokens"]},
    },
}

# Executor knobs.
RUNYARD: dict[str, Any] = {
    "WORK_DIR": DATA_DIR / "work",
    "ENV_DIR": env_path("RUNYARD_ENV_DIR", DATA_DIR / "envs"),
    "UV_CACHE_DIR": env_path("RUNYARD_UV_CACHE_DIR", DATA_DIR / "uv-cache"),
    "SNAPSHOT_DIR": DATA_DIR / "snapshots",
    "ARTIFACT_DIR": DATA_DIR / "artifacts",
    "DATASET_DIR": DATA_DIR / "datasets",
    "SNAPSHOT_MAX_BYTES": env_int("RUNYARD_SNAPSHOT_MAX_BYTES", 200 * 1024 * 1024, minimum=1),
    "SNAPSHOT_MAX_FILES": env_int("RUNYARD_SNAPSHOT_MAX_FILES", 20000, minimum=1),
    # 0: a single file may be as large as the whole limit.
    "SNAPSHOT_MAX_FILE_BYTES": env_int("RUNYARD_SNAPSHOT_MAX_FILE_BYTES", 0, minimum=0),
    "SNAPSHOT_MAX_RATIO": env_float("RUNYARD_SNAPSHOT_MAX_RATIO", 200.0, minimum=1),
    "CANCEL_GRACE_SECONDS": env_float("RUNYARD_CANCEL_GRACE_SECONDS", 10.0, minimum=0),
    # Preemption (scheduling.preemption): SIGTERM to SIGKILL, and how long a resumed run
    # runs before it may be preempted again (no preemption cycles); a TargetPool overrides both.
    "PREEMPT_GRACE_SECONDS": env_float("RUNYARD_PREEMPT_GRACE_SECONDS", 30.0, minimum=0),
    "PREEMPT_MIN_RUN_SECONDS": env_float("RUNYARD_PREEMPT_MIN_RUN_SECONDS", 300.0, minimum=0),
    # Per-run directories that survive a run's attempts (RUNYARD_CHECKPOINT_DIR).
    "CHECKPOINT_DIR": DATA_DIR / "checkpoints",
    # Fair share (scheduling.usage): how long a run-hour keeps counting against its team.
    "SCHEDULER_USAGE_WINDOW_HOURS": env_float("RUNYARD_SCHEDULER_USAGE_WINDOW_HOURS", 168.0, minimum=0),
    "HEARTBEAT_SECONDS": env_float("RUNYARD_HEARTBEAT_SECONDS", 5.0, minimum=0.1),
    # Each rank's CPU, memory, disk, network and the node's GPUs into system/ metrics; 0: off.
    "SYSTEM_METRICS_SECONDS": env_float("RUNYARD_SYSTEM_METRICS_SECONDS", 10.0, minimum=0),
    "HEARTBEAT_TIMEOUT_SECONDS": env_float("RUNYARD_HEARTBEAT_TIMEOUT_SECONDS", 60.0, minimum=1),
    # NotResponding -> Failed ("worker lost"); None: twice the heartbeat timeout.
    "WORKER_LOST_SECONDS": env_float("RUNYARD_WORKER_LOST_SECONDS", 0.0, minimum=0) or None,
    "LOG_LINE_MAX_CHARS": env_int("RUNYARD_LOG_LINE_MAX_CHARS", 16384, minimum=80),
    # The line reader cuts a longer line (from a rank or a build) into marked pieces.
    "MAX_LOG_LINE_BYTES": env_int("RUNYARD_MAX_LOG_LINE_BYTES", 64 * 1024, minimum=80),
    # Package indexes of environment builds (environments.indexes): pip's configuration of
    # the worker host ("off": ignored); each RUNYARD_PIP_* that is set replaces its key.
    "PIP_HOST_CONFIG": env_choice("RUNYARD_PIP_HOST_CONFIG", "on", ("on", "off")),
    "PIP_INDEX_URL": env_str("RUNYARD_PIP_INDEX_URL", ""),
    "PIP_EXTRA_INDEX_URLS": env_list("RUNYARD_PIP_EXTRA_INDEX_URLS", []),
    "PIP_FIND_LINKS": env_list("RUNYARD_PIP_FIND_LINKS", []),
    "PIP_TRUSTED_HOSTS": env_list("RUNYARD_PIP_TRUSTED_HOSTS", []),
    # Where the allowed index 'pytorch-cpu' (of Runyard-PyTorch-*-CPU) points when first created.
    "PYTORCH_CPU_INDEX_URL": env_str("RUNYARD_PYTORCH_CPU_INDEX_URL", "https://download.pytorch.org/whl/cpu"),
    "DEFAULT_ENVIRONMENT": env_str("RUNYARD_DEFAULT_ENVIRONMENT", "Runyard-Python-3.11"),
    "DATASTORE_ROOTS": env_list("RUNYARD_DATASTORE_ROOTS", [str(DATA_DIR / "datastores")]),
    "DATASET_ARCHIVE_MAX_BYTES": env_int("RUNYARD_DATASET_ARCHIVE_MAX_BYTES", 20 * 1024**3, minimum=1),
    "DATASET_ARCHIVE_MAX_FILES": env_int("RUNYARD_DATASET_ARCHIVE_MAX_FILES", 100_000, minimum=1),
    "DATASET_ARCHIVE_MAX_FILE_BYTES": env_int("RUNYARD_DATASET_ARCHIVE_MAX_FILE_BYTES", 0, minimum=0),
    "DATASET_ARCHIVE_MAX_RATIO": env_float("RUNYARD_DATASET_ARCHIVE_MAX_RATIO", 200.0, minimum=1),
    "DATASET_READONLY_MOUNTS": env_bool("RUNYARD_DATASET_READONLY_MOUNTS", True),
    # Web-URL datasets (datasets/fetch.py): who may register them ("members", "admins",
    # "off"); hosts/addresses/CIDRs that may be fetched although private or loopback
    # (by default only public addresses are); size and socket-timeout bounds per file.
    "DATASET_URLS": env_choice("RUNYARD_DATASET_URLS", "members", ("members", "admins", "off")),
    "DATASET_URL_ALLOWED_HOSTS": env_list("RUNYARD_DATASET_URL_ALLOWED_HOSTS", []),
    "DATASET_URL_MAX_BYTES": env_int("RUNYARD_DATASET_URL_MAX_BYTES", 10 * 1024**3, minimum=1),
    "DATASET_URL_TIMEOUT_SECONDS": env_float("RUNYARD_DATASET_URL_TIMEOUT_SECONDS", 60.0, minimum=0.1),
    "DATASET_URL_MAX_SECONDS": env_float("RUNYARD_DATASET_URL_MAX_SECONDS", 3600.0, minimum=0.001),
    # Local runs in a bubblewrap sandbox (execution/sandbox.py): "on" (required: runs
    # fail when bubblewrap cannot be used) or "off" (scripts run as the worker's user).
    "SANDBOX": env_choice("RUNYARD_SANDBOX", "on", ("on", "off")),
    # The unprivileged uid/gid scripts run as (nobody/nogroup on Debian; no account needed).
    "SANDBOX_UID": env_int("RUNYARD_SANDBOX_UID", 65534, minimum=1),
    "SANDBOX_GID": env_int("RUNYARD_SANDBOX_GID", 65534, minimum=1),
    "SANDBOX_BWRAP": env_str("RUNYARD_SANDBOX_BWRAP", "bwrap"),  # bubblewrap: a name on PATH or a path
    # Extra host paths every sandbox sees read-only (e.g. /opt/cuda, a shared model cache).
    "SANDBOX_RO_PATHS": env_list("RUNYARD_SANDBOX_RO_PATHS", []),
    # Held launches (execution/backends/held.py): each worker process keeps a one-process
    # run's sandbox and interpreter started ahead, importing these modules, so a launch is
    # a write to a pipe; "off": every run starts cold.
    "HELD_LAUNCH": env_choice("RUNYARD_HELD_LAUNCH", "on", ("on", "off")),
    "HELD_PRELOAD": env_list("RUNYARD_HELD_PRELOAD", ["runyard"]),
    # Login limits (accounts.login_limits): failures per account / per client address
    # within the window before sign-ins are refused until the window has passed.
    "LOGIN_ACCOUNT_LIMIT": env_int("RUNYARD_LOGIN_ACCOUNT_LIMIT", 5, minimum=1),
    "LOGIN_IP_LIMIT": env_int("RUNYARD_LOGIN_IP_LIMIT", 20, minimum=1),
    "LOGIN_WINDOW_SECONDS": env_int("RUNYARD_LOGIN_WINDOW_SECONDS", 900, minimum=1),
    # How long a process reuses an API token's look-up (accounts.token_cache): a token
    # revoked in another process keeps working there for at most this long; 0: off.
    # Off by default: with several web processes a revoked token would keep working in the
    # others for this long (accounts/token_cache.py).
    "TOKEN_CACHE_SECONDS": env_float("RUNYARD_TOKEN_CACHE_SECONDS", 0.0, minimum=0),
    # Kind and config of a compute target created without a kind: the SDK's
    # ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(...)).
    "CLUSTER_KIND": env_str("RUNYARD_CLUSTER_KIND", "local"),
    "CLUSTER_CONFIG": env_json_object("RUNYARD_CLUSTER_CONFIG", {}),
    # Interpreters for venv builds (environments/pythons.py): folders searched besides
    # PATH (globs; pyenv's installs by default), whether uv may download a missing
    # version, and whether a missing version may be replaced by the nearest newer one.
    "PYTHON_SEARCH_DIRS": env_list(
        "RUNYARD_PYTHON_SEARCH_DIRS", [str(Path(env_str("PYENV_ROOT", "~/.pyenv")) / "versions" / "*" / "bin")]
    ),
    "PYTHON_DOWNLOADS": env_choice("RUNYARD_PYTHON_DOWNLOADS", "never", ("never", "automatic")),
    "PYTHON_FALLBACK": env_choice("RUNYARD_PYTHON_FALLBACK", "off", ("off", "nearest-newer")),
}
# The SDK uploads folders in batches of up to 500 files per request.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("RUNYARD_UPLOAD_MAX_FILES", 10_000, minimum=1)
