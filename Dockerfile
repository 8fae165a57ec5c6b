# Runyard application image: web (ASGI), worker and beat all run from it.
# Stage 1 builds the web app; stage 2 is the Python runtime with the built assets.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
# The API type generator's own package (a file: dev dependency; see its package.json).
COPY frontend/tools/openapi/package.json tools/openapi/
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RUNYARD_DATA_DIR=/data
# Open MPI for MpiConfiguration runs on the local compute kind; bubblewrap (and
# util-linux's setpriv) for its sandbox.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openmpi-bin libopenmpi-dev gcc bubblewrap util-linux \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY runyard/ runyard/
RUN pip install --no-cache-dir ".[server,sdk]"
COPY . .
COPY --from=frontend /src/frontend/dist /app/frontend/dist
RUN mkdir -p /data && SECRET_KEY=build-only REDIS_URL=redis://unused:6379/0 python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["python", "manage.py", "runyard_serve", "--host", "0.0.0.0", "--no-worker"]
