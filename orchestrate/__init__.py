"""Run the Meltano project's schedules: on Dagster, from plain cron, or as parallel workers."""
