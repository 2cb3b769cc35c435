FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings but no secrets or database.
RUN DEBUG=false SECRET_KEY=build-only python manage.py collectstatic --no-input
RUN useradd --create-home parley
USER parley
EXPOSE 8000
# uvicorn serves the same application as daphne at half the CPU per delivery (docs/performance.md).
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio", "--ws-max-size", "65536", \
     "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*", "--no-access-log"]
