# syntax=docker/dockerfile:1
# docfetch image. Default target (the last stage): the consumer, entrypoint docfetch-consumer; the same
# image also carries docfetch-producer (docker-compose.yml's `topics` and `seed` services use it).
# Stage `demo` adds the test origin farm beside the consumer so the compose stack runs offline.
#
#   docker build -t docfetch .                       # consumer image
#   docker build --target demo -t docfetch-demo .    # consumer + origin farm (docker-compose.yml)

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /app
# Runtime dependencies first, at the versions pinned in requirements.lock (used as constraints, so the
# lock's dev tools stay out of the image); this layer is rebuilt only when the lock or pyproject changes.
COPY requirements.lock pyproject.toml README.md ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > runtime-requirements.txt \
    && pip install -c requirements.lock -r runtime-requirements.txt \
    && rm runtime-requirements.txt
COPY schemas ./schemas
COPY producer ./producer
COPY consumer ./consumer
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps .
# A fixed non-root uid; /data/artifacts and /data/state (the partition stores, DOCFETCH_STATE_DIR's
# default beside the store) are created here so a named volume mounted there inherits the owner.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin docfetch \
    && mkdir -p /data/artifacts /data/state \
    && chown docfetch /data/artifacts /data/state

FROM base AS demo
# The consumer plus the test origin farm and the sample it serves, for the offline docker-compose stack.
COPY originfarm ./originfarm
COPY deploy/sample ./deploy/sample
COPY deploy/docker/consumer-with-farm.sh /usr/local/bin/consumer-with-farm
USER docfetch
EXPOSE 9100
ENTRYPOINT ["consumer-with-farm"]
CMD ["run", "--metrics-port", "9100", "--store", "/data/artifacts"]

FROM base AS consumer
USER docfetch
EXPOSE 9100
ENTRYPOINT ["docfetch-consumer"]
CMD ["run", "--metrics-port", "9100", "--store", "/data/artifacts"]
