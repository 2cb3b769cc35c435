"""Parley's settings, read from the environment.

Nothing set gives the embedded default that `make run` serves: SQLite in WAL mode, the
in-memory channel layer and a local-memory cache. `DATABASE_URL` and `REDIS_URL` switch to
PostgreSQL and Redis; see the README's "Configuration" and "Deploying" sections.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="parley-insecure-development-key-do-not-deploy")
else:
    # Production refuses to start on a guessable key.
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # daphne first, so `runserver` serves WebSockets too.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "accounts",
    "messaging",
    "notifications",
    "awareness",
    "search",
    "jobs",
    "reminders",
    "scheduled",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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
                "notifications.context_processors.unread_notifications",
                "notifications.context_processors.notify_prefs",
                "awareness.context_processors.me",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
SQLITE_PATH = env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3"))
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers go on while a message is written; IMMEDIATE takes the write lock
        # at BEGIN, so two senders queue for it instead of failing with "database is locked".
        # secure_delete overwrites what a deleted message's body occupied, on every build.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# Persistent connections: database work runs on one long-lived thread per process, and opening
# a connection (and, on SQLite, running its PRAGMAs) for every frame would cost more than the
# frame's own queries.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Channel layer and cache ----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# "pubsub" (RedisPubSubChannelLayer) or "core" (RedisChannelLayer); docs/deploying.md says why
# pub/sub is the default.
CHANNEL_LAYER_KIND = env.str("CHANNEL_LAYER_KIND", default="pubsub")

if REDIS_URL:
    if CHANNEL_LAYER_KIND == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [REDIS_URL]},
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    # No client-side read timeout: the layer's blocking reads wait longer than
                    # redis-py's default 5 s, and a timeout there would end idle sockets.
                    "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                    "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1500),
                    # Each process's hub channel (messaging/realtime/hub.py) takes the events of
                    # all its sockets: a burst (a mention of a whole room) must fit.
                    "channel_capacity": {
                        "parley-hub*": env.int("CHANNEL_LAYER_HUB_CAPACITY", default=100_000)
                    },
                    "expiry": 30,
                },
            }
        }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layers.InMemoryChannelLayer",
            # Per-socket queue; a socket further behind than this fills its gap from the database.
            "CONFIG": {"capacity": 1000},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background work (jobs/, config/celery.py) ------------------------------------------
# The broker only wakes the worker: every piece of due work is a row in the database that the
# worker's sweep finds again, so a broker that loses a task (a worker killed while holding it,
# an outage) delays it and loses nothing (docs/reliability.md). Production: the Redis that
# is already there. The embedded default: kombu's filesystem transport in a folder beside the
# SQLite file, which needs no server and no second database writer (docs/deploying.md).
# The worker's own files, beside the SQLite file by default: beat's schedule, and the embedded
# broker's queue.
JOBS_DIR = Path(env.str("PARLEY_JOBS_DIR", default=f"{SQLITE_PATH}-jobs"))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
# On Redis: an unacknowledged task comes back after an hour (a worker that died holding it; the
# sweep finds its work sooner). A Redis that accepts connections and never answers must not
# hold a request or a worker: every socket operation gives up after a few seconds.
REDIS_BROKER_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": 3,
    "socket_connect_timeout": 2,
    "socket_keepalive": True,
    "retry_on_timeout": False,
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(JOBS_DIR / "queue"),
        "data_folder_out": str(JOBS_DIR / "queue"),
        "processed_folder": str(JOBS_DIR / "processed"),
        "control_folder": str(JOBS_DIR / "control"),
        "store_processed": False,
        # How often an idle worker looks for a task: the wake-up latency (docs/performance.md).
        "polling_interval": 0.1,
    }
    # Remote control needs broadcast, which the filesystem transport does not carry.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
    # A worker takes a message off this broker's folder as it fetches it, so taking a few at a
    # time loses nothing more to a kill, and lifts its rate from ~20 tasks/s (one per poll per
    # process) to ~1,100 (bench/results/broker/).
    CELERY_WORKER_PREFETCH_MULTIPLIER = 8
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_BROKER_OPTIONS
    # A task a worker holds is another's only after the visibility timeout: one at a time.
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that wakes the worker after its commit gives up on a broker that is down within
# about a second (the sweep finds the work anyway), rather than holding the request.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(JOBS_DIR / "beat-schedule")

# --- Email ----------------------------------------------------------------------------------
# EMAIL_URL: smtp://user:password@host:587 (smtp+tls://, smtp+ssl:// ...); printed on the
# console by default, so `make run` shows the emails it would send.
# EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS ...
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Parley <parley@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A password reset link works this long (Django's default is three days).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=24 * 3600)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "config.storage.ParleyStaticStorage"
    },
}

# --- Security -------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Parley ---------------------------------------------------------------------------------
PARLEY = {
    "MAX_BODY_CHARS": 10_000,
    "HISTORY_PAGE_SIZE": 50,
    # Replies a thread's page (and the panel's first load) shows; older ones page in.
    "THREAD_PAGE_SIZE": 200,
    "SYNC_BATCH_SIZE": env.int("PARLEY_SYNC_BATCH_SIZE", default=200),
    # Token bucket per connection: a burst of RATE_BURST frames, refilled at
    # RATE_PER_SECOND frames a second.
    "RATE_BURST": env.int("PARLEY_RATE_BURST", default=20),
    "RATE_PER_SECOND": env.float("PARLEY_RATE_PER_SECOND", default=5.0),
    # Consecutive rate-limited frames after which the socket is closed (4429).
    "RATE_ABUSE_CLOSE_AFTER": env.int("PARLEY_RATE_ABUSE_CLOSE_AFTER", default=50),
    # Open sockets one user may hold on one server process (one per tab); more close with 4409.
    "MAX_SOCKETS_PER_USER": env.int("PARLEY_MAX_SOCKETS_PER_USER", default=20),
    # Minutes after sending that authors may edit / delete their own messages (0: no limit);
    # a room's managers may set their own. Managers delete any message in their room at any time.
    "EDIT_WINDOW_MINUTES": env.int("PARLEY_EDIT_WINDOW_MINUTES", default=0),
    "DELETE_WINDOW_MINUTES": env.int("PARLEY_DELETE_WINDOW_MINUTES", default=0),
    # Who may see a message's earlier versions: "members" or "managers" (a room may choose).
    "HISTORY_VISIBLE_TO": env.str("PARLEY_HISTORY_VISIBLE_TO", default="members"),
    # Distinct emoji on one message, and reactions one member may put on one message.
    "MAX_REACTIONS_PER_MESSAGE": env.int("PARLEY_MAX_REACTIONS_PER_MESSAGE", default=20),
    "MAX_REACTIONS_PER_USER": env.int("PARLEY_MAX_REACTIONS_PER_USER", default=10),
    # A search statement that runs longer is stopped and answered `too_slow` (search/selectors.py).
    "SEARCH_TIMEOUT_SECONDS": env.float("PARLEY_SEARCH_TIMEOUT_SECONDS", default=3.0),
    # --- Awareness (awareness/): presence, typing, read receipts. None of it is needed for
    # messages to arrive; each part can be switched off under load (docs/performance.md).
    "PRESENCE": env.bool("PARLEY_PRESENCE", default=True),
    "TYPING": env.bool("PARLEY_TYPING", default=True),
    "READ_RECEIPTS": env.bool("PARLEY_READ_RECEIPTS", default=True),
    # A socket's "active" turns "away" after this long without a fresh sign of the person.
    "PRESENCE_IDLE_SECONDS": env.float("PARLEY_PRESENCE_IDLE_SECONDS", default=300.0),
    # At most one presence frame per user per this many seconds: changes in between coalesce.
    "PRESENCE_COALESCE_SECONDS": env.float("PARLEY_PRESENCE_COALESCE_SECONDS", default=2.0),
    # A process that has not renewed its presence for this long is dead: its users' sockets
    # stop counting (a live process renews every third of it).
    "PRESENCE_TTL_SECONDS": env.float("PARLEY_PRESENCE_TTL_SECONDS", default=30.0),
    # How often "last active" times reach the database (for people offline since).
    "PRESENCE_PERSIST_SECONDS": env.float("PARLEY_PRESENCE_PERSIST_SECONDS", default=60.0),
    # Typing: one start per user per conversation per throttle; shown until it expires.
    "TYPING_THROTTLE_SECONDS": env.float("PARLEY_TYPING_THROTTLE_SECONDS", default=2.5),
    "TYPING_EXPIRES_SECONDS": env.int("PARLEY_TYPING_EXPIRES_SECONDS", default=6),
    "TYPING_MAX_MEMBERS": env.int("PARLEY_TYPING_MAX_MEMBERS", default=100),
    # Read receipts in rooms up to this size; one frame per room per coalesce interval.
    "RECEIPTS_MAX_MEMBERS": env.int("PARLEY_RECEIPTS_MAX_MEMBERS", default=50),
    "RECEIPTS_COALESCE_SECONDS": env.float("PARLEY_RECEIPTS_COALESCE_SECONDS", default=1.0),
    "STATUS_MAX_CHARS": 100,
    # --- Background work (jobs/): the links in emails start with SITE_URL.
    "SITE_URL": env.str("PARLEY_SITE_URL", default="http://127.0.0.1:8000"),
    # How often a server on the in-memory layer reads what the worker relayed through the
    # database (messaging/realtime/relay.py); 0: never (no worker, or a shared layer anyway).
    "RELAY_SECONDS": env.float("PARLEY_RELAY_SECONDS", default=0.25),
    # How often the worker's sweep looks for due work (scheduled messages, reminders, digests,
    # emails a lost task left unsent): the most a due thing waits past its time.
    "JOBS_SWEEP_SECONDS": env.float("PARLEY_JOBS_SWEEP_SECONDS", default=5.0),
    # An email being sent is another worker's for this long; past it, a worker that died while
    # sending is assumed dead and the email is sent again. Longer than the slowest SMTP
    # conversation that can succeed (about ten replies of up to EMAIL_TIMEOUT each).
    "EMAIL_LEASE_SECONDS": env.int("PARLEY_EMAIL_LEASE_SECONDS", default=300),
    # The wait after a failed attempt at an email doubles from this, up to an hour.
    "EMAIL_RETRY_SECONDS": env.float("PARLEY_EMAIL_RETRY_SECONDS", default=30.0),
    # Attempts at sending one email before it is left for an admin (Django admin, Outbound emails).
    "EMAIL_MAX_ATTEMPTS": env.int("PARLEY_EMAIL_MAX_ATTEMPTS", default=6),
    # Housekeeping: read notifications older than this are deleted; so are sent emails.
    "NOTIFICATION_RETENTION_DAYS": env.int("PARLEY_NOTIFICATION_RETENTION_DAYS", default=90),
    "EMAIL_RETENTION_DAYS": env.int("PARLEY_EMAIL_RETENTION_DAYS", default=30),
    # Reminders (reminders/): pending ones per user, how far ahead, how long finished ones stay.
    "REMINDERS_MAX_PENDING": env.int("PARLEY_REMINDERS_MAX_PENDING", default=100),
    "REMINDERS_MAX_DAYS_AHEAD": env.int("PARLEY_REMINDERS_MAX_DAYS_AHEAD", default=365),
    "REMINDERS_RETENTION_DAYS": env.int("PARLEY_REMINDERS_RETENTION_DAYS", default=30),
    # Scheduled messages (scheduled/): pending ones per user, how far ahead.
    "SCHEDULED_MAX_PENDING": env.int("PARLEY_SCHEDULED_MAX_PENDING", default=100),
    "SCHEDULED_MAX_DAYS_AHEAD": env.int("PARLEY_SCHEDULED_MAX_DAYS_AHEAD", default=365),
    # --- Direct messages and notification control (issue 16).
    # People in one direct conversation, its starter included.
    "DM_MAX_PEOPLE": env.int("PARLEY_DM_MAX_PEOPLE", default=9),
    # Rooms with more members than this take @room and @here only from their owner and admins,
    # unless the room says otherwise (ChatRoom.group_mentions_by).
    "GROUP_MENTION_MEMBERS": env.int("PARLEY_GROUP_MENTION_MEMBERS", default=50),
    # The composer asks before sending a message that notifies more people than this.
    "NOTIFY_WARNING_PEOPLE": env.int("PARLEY_NOTIFY_WARNING_PEOPLE", default=15),
}

# --- Logging: one line per record on stdout (JSON in production) ----------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["stdout"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
