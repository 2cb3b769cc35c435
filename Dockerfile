FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The runtime only, pinned with hashes: no test or benchmark tools in production.
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
COPY . .
# collectstatic needs settings but no secrets or database.
RUN DEBUG=false SECRET_KEY=build-only python manage.py collectstatic --no-input
RUN useradd --create-home parley
USER parley
EXPOSE 8000
# uvicorn serves the same application as daphne at half the CPU per delivery (docs/performance.md).
# The command line of tests/harness.py (`make run`, the tests and the benchmark use it too), with the
# proxy's headers trusted from nginx's container; tests/test_deploy.py keeps the two equal.
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio", "--ws-max-size", "65536", "--ws-per-message-deflate", "false", \
     "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*", "--no-access-log"]
