# The clinic files service under gunicorn. `docker compose up` runs it with
# PostgreSQL, MinIO and nginx in front (docker-compose.yml); on its own:
#
#   docker build -t clinic-files .
#   docker run -e DJANGO_SECRET_KEY=... -e DATABASE_URL=postgres://... -p 8000:8000 clinic-files
#
# Configuration comes from the environment (README.md, "Settings").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code belongs to root and is read-only for the service's user; only the
# folders the service writes to are its own: the admin's assets
# (collectstatic, a volume that nginx serves), local-disk files and the
# default SQLite folder.
COPY . .
RUN useradd --system --user-group --uid 10001 --home-dir /nonexistent --no-create-home clinic \
    && mkdir -p /srv/assets /data/files /data/var \
    && chown clinic:clinic /srv/assets /data/files /data/var \
    && chmod 0700 /data/files
USER clinic

# Safe defaults: never debug; no secret key (the app refuses to start without
# DJANGO_SECRET_KEY); files on local disk unless FILES_BACKEND=s3.
ENV DJANGO_DEBUG=0 \
    CLINIC_VAR_DIR=/data/var \
    FILES_ROOT=/data/files \
    DJANGO_STATIC_ROOT=/srv/assets \
    GUNICORN_BIND=0.0.0.0:8000

EXPOSE 8000

# /readyz: the database and the files' storage answer. The start period
# leaves time for migrations (docker-compose.yml runs them before gunicorn).
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]

# Migrations and collectstatic are deployment steps, not part of every start:
# docker-compose.yml runs them before gunicorn.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"]
