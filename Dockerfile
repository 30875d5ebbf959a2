# The application image: the API (`python -m api`), the worker (`python worker.py`) and the
# case-store migrations (`alembic upgrade head`), as docker-compose.yml runs them.
FROM python:3.11.15-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 econsult \
    && useradd --system --uid 10001 --gid econsult --home-dir /app --shell /usr/sbin/nologin econsult

WORKDIR /app

# The source stays in /app as well: alembic.ini and store/migrations are read from the working
# directory, and worker.py is started from it. .dockerignore keeps dev/ (development-only code)
# out of the context; the build fails if it got in all the same.
COPY . .
RUN test ! -e dev && pip install . && rm -rf build && python -m compileall -q /app

USER econsult:econsult

EXPOSE 8000

CMD ["python", "-m", "api"]
