FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --uid 10001 clinic && mkdir -p /data/files && chown clinic /data/files
USER clinic

ENV FILES_ROOT=/data/files CLINIC_VAR_DIR=/tmp/clinic
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py collectstatic --noinput && exec gunicorn clinic.wsgi --bind 0.0.0.0:8000 --workers 2 --threads 4"]
