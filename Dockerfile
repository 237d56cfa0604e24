# One image, three roles (orchestrate/README.md, "Scaling out"):
#   worker (default)   bin/worker: one run of the job as worker $WORKER_ID (default: the
#                      container's hostname); WORKER_EVERY=SECONDS repeats it forever.
#                      As PID 1 it passes `docker stop`'s SIGTERM on to the run, which stops
#                      within seconds and offers its unacknowledged messages back at once.
#   orchestrator       meltano invoke dagster:daemon (run `meltano invoke dagster:createdb` once)
#   cron alternative   python -m orchestrate.cron prints the crontab lines
# Other commands than bin/worker are no init process: give them `docker run --init`.
# Every replica needs: MELTANO_DATABASE_URI (one PostgreSQL system database for all),
# TAP_SQS_LOGINS_QUEUE_URL, TAP_SQS_LOGINS_MASK_KEY, TARGET_POSTGRES_HOST/_PORT/_USER/_PASSWORD/
# _DATABASE, AWS credentials (or an instance role), and MELTANO_ENVIRONMENT=prod.
FROM python:3.11-slim-bookworm

# make, and git for pip; util-linux (flock) is in the base image.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends make git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 meltano

WORKDIR /project
RUN chown meltano:meltano /project
USER meltano
COPY --chown=meltano:meltano . .
RUN make .meltano/.installed \
    && rm -rf .meltano/workers .meltano/cron /home/meltano/.cache

ENV MELTANO_PROJECT_ROOT=/project \
    MELTANO_ENVIRONMENT=prod \
    MELTANO_SEND_ANONYMOUS_USAGE_STATS=false \
    PATH=/project/.venv/bin:$PATH

CMD ["bin/worker"]
