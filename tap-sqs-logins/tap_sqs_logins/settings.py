"""The tap's settings (``config_jsonschema``), each with its description and default."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_sqs_logins.sqs.client import FIFO_IN_FLIGHT_LIMIT, IN_FLIGHT_LIMIT
from tap_sqs_logins.sqs.in_flight import default_max_in_flight

# The constants the tap's modules share. SQS's own limits stay in the SQS layer
# (tap_sqs_logins.sqs), which imports nothing of Singer's.
AFTER_STATE, LOADER, ON_EMIT = "after_state", "loader", "on_emit"  # the acknowledgement modes
MODES = (AFTER_STATE, LOADER, ON_EMIT)
COMMIT_REQUEST = "sqs_ack_commit_request"  # the key of the STATE line asking sqs-ack to commit
JOURNAL_DIR = ".tap-sqs-logins/journal"
MIN_KEY_LENGTH = 16  # of mask_key

# Runs every 15 minutes (the project's schedule), plus a run of up to as long: an after_state
# run's messages stay hidden until the next run has confirmed them.
DEFAULT_VISIBILITY_TIMEOUT = 1800

SETTINGS = th.PropertiesList(
    th.Property(
        "queue_url",
        th.StringType(min_length=1),
        required=True,
        description="URL of the SQS queue holding login messages.",
    ),
    th.Property(
        "endpoint_url",
        th.StringType,
        description="SQS (and STS) endpoint for LocalStack or moto, such as "
        "http://localhost:4566; unset for AWS.",
    ),
    th.Property("region", th.StringType, default="us-east-1", description="AWS region."),
    th.Property(
        "aws_access_key_id",
        th.StringType,
        secret=True,
        description="AWS access key id; unset to use boto3's standard credential chain.",
    ),
    th.Property("aws_secret_access_key", th.StringType, secret=True, description="AWS secret key."),
    th.Property("aws_session_token", th.StringType, secret=True, description="AWS session token."),
    th.Property(
        "aws_profile",
        th.StringType,
        description="Named profile of the AWS config files (~/.aws/config) to take "
        "credentials from, instead of aws_access_key_id.",
    ),
    th.Property(
        "aws_assume_role_arn",
        th.StringType,
        description="IAM role to assume with STS before using SQS; its temporary credentials "
        "are refreshed before they expire.",
    ),
    th.Property(
        "aws_assume_role_external_id",
        th.StringType,
        secret=True,
        description="External id the role's trust policy requires, if any.",
    ),
    th.Property(
        "aws_assume_role_session_name",
        th.StringType(min_length=2, max_length=64, pattern=r"^[\w+=,.@-]+$"),
        default="tap-sqs-logins",
        description="Session name of the assumed role, shown in CloudTrail.",
    ),
    th.Property(
        "wait_time_seconds",
        th.IntegerType(minimum=0, maximum=20),
        default=1,
        description="Long-polling wait per receive; an empty receive ends the run.",
    ),
    th.Property(
        "visibility_timeout",
        th.IntegerType(minimum=30, maximum=43200),
        default=DEFAULT_VISIBILITY_TIMEOUT,
        description="Seconds a received message stays hidden. The tap extends it every "
        "third of it while it runs, and with after_state once more at the end: make it longer "
        "than the interval between runs plus a run (the default suits runs every 15 minutes).",
    ),
    th.Property(
        "receive_concurrency",
        th.IntegerType(minimum=1, maximum=50),
        default=8,
        description="Long-poll receives in flight at once (threads); more hides the round "
        "trip to SQS.",
    ),
    th.Property(
        "max_messages",
        th.IntegerType(minimum=1),
        description="Most messages to read in one run; unset to drain the queue.",
    ),
    th.Property(
        "acknowledgement",
        th.StringType(allowed_values=list(MODES)),
        default=AFTER_STATE,
        description="Who deletes each message from SQS. after_state (at least once, any "
        "Singer target): the tap, at its next run, once the target's STATE has confirmed the "
        "batch. loader: the loader, once committed (sqs-ack); the tap emits queue_url and "
        "receipt_handle for it. on_emit (at most once): the tap, right after writing the "
        "batch; a target that fails loses it.",
    ),
    th.Property(
        "journal_dir",
        th.StringType(min_length=1),
        default=JOURNAL_DIR,
        description="Private directory (0700) of the receipt handles that after_state "
        "deletes at the next run; relative to the working directory (Meltano's project root). "
        "Keep it between runs.",
    ),
    th.Property(
        "dead_letter_queue_url",
        th.StringType,
        description="Queue that receives messages that are not valid logins; unset to "
        "leave them to the source queue's own redrive policy.",
    ),
    th.Property(
        "mask_key",
        th.StringType(min_length=MIN_KEY_LENGTH),
        secret=True,
        description="Secret key of mask() in stream maps (HMAC-SHA-256): at least "
        f"{MIN_KEY_LENGTH} characters, 8 different, no leading or trailing whitespace. Set "
        "it through the environment (TAP_SQS_LOGINS_MASK_KEY), never in git.",
    ),
    th.Property(
        "mask_key_version",
        th.StringType,
        description="The id of mask_key (8 hex digits, as in its masked values m2:<id>:…), "
        "to pin the key: the tap refuses another key. Unset: any key, labelled by its id.",
    ),
    th.Property(
        "seal_public_key",
        th.StringType,
        description="RSA public key (PEM) for seal() in stream maps: an optional sealed "
        "copy of ip and device_id that only the private key's holder can open. Off if unset.",
    ),
    th.Property(
        "include_message_attributes",
        th.BooleanType,
        default=False,
        description="Emit the text message attributes as message_attributes (opt-in: "
        "producers may put personal data there; attributes that show an IP address or the "
        "login's ip or device_id are dropped, but other personal data is not recognised).",
    ),
    th.Property(
        "include_fifo_fields",
        th.BooleanType,
        default=False,
        description="Emit message_group_id and sequence_number of FIFO queues.",
    ),
    th.Property(
        "unwrap_sns",
        th.BooleanType,
        default=False,
        description="Judge an SNS notification (raw message delivery off) by its inner "
        "Message; SNS subscription confirmations are quarantined.",
    ),
    th.Property(
        "allow_raw_pii",
        th.BooleanType,
        default=False,
        description="Allow ip and device_id to leave the tap unmasked.",
    ),
    # Settings of SQS's in-flight limit (sqs/in_flight.py).
    th.Property(
        "max_in_flight",
        th.IntegerType(minimum=1, maximum=IN_FLIGHT_LIMIT),
        description="Most messages a run holds received but not deleted (until the loader "
        "commits them, or with after_state until the next run), less those the queue already "
        "has in flight when it starts; the rest waits for the next run. SQS allows about "
        f"{IN_FLIGHT_LIMIT:,} per standard queue and {FIFO_IN_FLIGHT_LIMIT:,} per FIFO queue "
        "(ReceiveMessage fails with OverLimit beyond). Unset: "
        f"{default_max_in_flight(fifo=False):,} for a standard queue, "
        f"{default_max_in_flight(fifo=True):,} for a FIFO queue.",
    ),
)
