# Production image: gunicorn serves the site; the same image runs the Celery worker and
# Celery beat (see docker-compose.yml). Python 3.11 matches the pinned Django 5.2.
#
#   docker build -t ticketing .
#   docker run --rm --env-file .env ticketing python manage.py migrate --noinput
#   docker run --rm --env-file .env -p 8000:8000 ticketing
#
# Migrations are not run by the default command: run `manage.py migrate` once per
# release before starting the new web processes (docker-compose.yml does it for you).
FROM python:3.11-slim-bookworm

# gunicorn reads its number of worker processes from WEB_CONCURRENCY. Several processes
# each count their own metrics: they write them under PROMETHEUS_MULTIPROC_DIR for
# /metrics to add up; gunicorn.conf.py (read from /app) empties it at each start.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=ticketing.settings \
    WEB_CONCURRENCY=2 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

# WeasyPrint (PDF tickets) needs Pango and HarfBuzz from the system, and a font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image (served by WhiteNoise). Settings refuse to
# load with DEBUG off unless SECRET_KEY, ALLOWED_HOSTS, SITE_URL and DATABASE_URL are
# set: the dummy values below exist for this step only (nothing connects) and are not
# kept in the image.
# The metrics directory is left out of this step (no root-owned files in it) and made
# for the app user, who runs every process.
RUN DEBUG=0 SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
        SITE_URL=http://localhost DATABASE_URL=postgres://unused@localhost/unused \
        env -u PROMETHEUS_MULTIPROC_DIR python manage.py collectstatic --noinput \
    && mkdir -p /app/media "$PROMETHEUS_MULTIPROC_DIR" \
    && chown app:app /app/media "$PROMETHEUS_MULTIPROC_DIR"

USER app

EXPOSE 8000

CMD ["gunicorn", "ticketing.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
