# bananabot: docker build -t bananabot . && docker run --env-file .env -v bananabot:/data bananabot
# Provider callbacks (only with CALLBACK_PUBLIC_URL set) arrive on 8080: add -p 8080:8080.
# /healthz and /metrics are on 127.0.0.1:8081 inside the container (the health check below);
# set METRICS_HOST=0.0.0.0 and add -p 8081:8081 for a Prometheus outside it.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 bananabot && mkdir /data && chown bananabot /data
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY providers providers
COPY bot bot
RUN pip install --no-cache-dir .

USER bananabot
WORKDIR /data
ENV BANANABOT_DB=/data/bananabot.db \
    CALLBACK_HOST=0.0.0.0 \
    CALLBACK_PORT=8080 \
    METRICS_HOST=127.0.0.1 \
    METRICS_PORT=8081 \
    PYTHONUNBUFFERED=1
VOLUME /data
# the callback receiver (listening only when CALLBACK_PUBLIC_URL is set)
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=3)"
# without DISCORD_TOKEN this exits with code 1 and one line saying so (no demo in a container)
CMD ["bananabot", "run"]
