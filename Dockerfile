# The hub image: the locked environment, run as an unprivileged user, data in the /data volume.
FROM python:3.11-slim
RUN pip install --no-cache-dir uv \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin exchange \
    && install -d -o exchange -m 0700 /data
WORKDIR /app
COPY pyproject.toml uv.lock README.md alembic.ini ./
COPY exchange ./exchange
COPY adapters ./adapters
COPY directory ./directory
COPY certs ./certs
COPY dags ./dags
RUN uv sync --locked --no-dev --no-cache
ENV PATH=/app/.venv/bin:$PATH \
    EXCHANGE_HOME=/data
USER exchange
EXPOSE 8000
CMD ["exchange", "up", "--host", "0.0.0.0", "--no-demo"]
