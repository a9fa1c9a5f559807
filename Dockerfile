# syntax=docker/dockerfile:1
# One image for every application service: web (gunicorn), worker and beat (Celery) and the one-shot migrate.
# See docker-compose.yml for how each is started.

# --- Stage 1: front-end assets (Bootstrap) from package-lock.json ------------------------------------------
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# --- Stage 2: the application ---------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# gettext: msgfmt for compilemessages. No libpq5: psycopg[binary] bundles its own libpq.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system trial \
    && useradd --system --gid trial --home-dir /app --no-create-home --shell /usr/sbin/nologin trial

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
COPY --from=assets /build/node_modules ./node_modules

# Production settings refuse to load without SECRET_KEY. This throwaway key exists only for the build steps
# below: it is passed to that one RUN command and never set with ENV, so containers do not inherit it.
# The running services get the real key from the environment (docker-compose.yml).
# Importing the settings without REDIS_URL creates var/celery/ as root; var/ is the services' writable state
# (beat's schedule and the export files on their volumes, the demo mail folder), so it is handed to the service
# user afterwards; a volume mounted on a folder of the image takes the folder's owner.
ARG BUILD_SECRET_KEY=build-only-not-a-secret
RUN SECRET_KEY="${BUILD_SECRET_KEY}" DJANGO_SETTINGS_MODULE=trial_site.settings.production \
        python manage.py compilemessages --ignore=.venv --ignore=node_modules \
    && SECRET_KEY="${BUILD_SECRET_KEY}" DJANGO_SETTINGS_MODULE=trial_site.settings.production \
        python manage.py collectstatic --no-input \
    && mkdir -p /app/var/celery /app/var/exports \
    && chown -R trial:trial /app/var

ENV DJANGO_SETTINGS_MODULE=trial_site.settings.production \
    PYTHONUNBUFFERED=1

USER trial
EXPOSE 8000

CMD ["gunicorn", "trial_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
