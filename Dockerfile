# The application image: the API (`python -m api`), the worker (`python worker.py`) and the
# case-store migrations (`alembic upgrade head`), as docker-compose.yml and deploy/k8s run them.
FROM python:3.11.15-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 econsult \
    && useradd --system --uid 10001 --gid econsult --home-dir /app --shell /usr/sbin/nologin econsult

WORKDIR /app

# Every runtime dependency and theirs, exactly as requirements.lock pins them, each checked
# against its hash: a changed or substituted file on the index fails the build. `make lock`
# regenerates the file from pyproject.toml (tests/operations/test_lock.py keeps them in step).
COPY requirements.lock .
RUN pip install --require-hashes --no-deps -r requirements.lock

# The source stays in /app as well: alembic.ini and store/migrations are read from the working
# directory, and worker.py is started from it. .dockerignore keeps dev/ (development-only code)
# out of the context; the build fails if it got in all the same. --no-deps: everything the
# project needs is installed above, from the lock, and nothing else may come in here.
COPY . .
RUN test ! -e dev && pip install --no-deps . && rm -rf build && python -m compileall -q /app

USER econsult:econsult

EXPOSE 8000

# The API's liveness (/healthz) at its port. The worker's container overrides it with its
# metrics endpoint (docker-compose.yml); Kubernetes ignores it and uses the pods' probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('API_PORT', '8000'), timeout=3)"

CMD ["python", "-m", "api"]
