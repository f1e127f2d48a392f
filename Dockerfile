# bananabot: docker build -t bananabot . && docker run --env-file .env -v bananabot:/data -p 8080:8080 bananabot
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
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"
# without DISCORD_TOKEN this exits with code 1 and one line saying so (no demo in a container)
CMD ["bananabot", "run"]
