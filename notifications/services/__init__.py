"""Writes of the delivery pipeline, one module per topic; this package's public interface is
what is imported here.

The contract for other apps (see /work/notes/pipeline-contract.md): `notices_send` (and
`notices_send_many`), `messages_send`, `pages_open` (and `pages_open_many`), `pages_stop`,
`page_ack`. An event is handed over as its owner's description, `notifications.events.Event`
(the row it is, its IT systems, its webhook document); the pipeline never recognises the models
of the apps above it. Each is called INSIDE the transaction that writes the event: it writes
notification rows, and Celery messages go out only after that transaction commits. The sweeper
(`sweep`) is the safety net that re-enqueues anything a lost message or a dead worker left behind,
advances escalation timers and releases held notices as digests.

Every service takes `now=` so that tests drive time; the tasks pass `timezone.now()`.

- `outbox`: where a message goes, idempotency keys, writing many rows fast
- `enqueue`: publishing the sends after commit
- `notices`: notices to people (held for working hours, released as digests) and to addresses
- `escalation`: who a page reaches, level by level
- `pages`: opening, escalating, acknowledging and stopping pages
- `ack_links`: signed acknowledge links
- `sending`: claiming, delivering, retrying, falling back
- `provider_acks`: acknowledging from an SMS reply, a call's key press, Slack's button
- `sweeper`: the periodic safety net
"""

from .ack_links import (
    ACK_SALT,
    AckLinkError,
    ack_link_resolve,
    ack_link_use,
    ack_token,
    ack_url,
)
from .enqueue import FAN_OUT_ABOVE, FAN_OUT_CHUNK, SEND_BATCH, enqueue_on_commit
from .escalation import (
    default_escalation_levels,
    escalation_for_many,
    escalation_for_system,
    escalation_levels_for,
    escalation_repeats_for,
)
from .notices import Delivery, digests_release, messages_send, notices_send, notices_send_many
from .outbox import CHANNEL_OF_KIND, Target, idempotency_key, message_key, rows_insert, targets_for
from .pages import (
    PageRequest,
    ack_group,
    may_ack,
    notification_ack,
    page_ack,
    page_ack_by_user,
    page_escalate,
    pages_ack,
    pages_escalate,
    pages_open,
    pages_open_many,
    pages_stop,
)
from .provider_acks import (
    ReplayedCallback,
    SlackAckRefused,
    call_outcome_record,
    page_ack_by_call,
    page_ack_by_slack,
    page_ack_by_sms_reply,
)
from .sending import (
    notification_claim,
    notification_fall_back,
    notification_send,
    notifications_claim,
    notifications_send,
    retry_delay,
)
from .sweeper import SweepResult, escalations_advance, stale_enqueue, sweep

__all__ = [
    "ACK_SALT",
    "CHANNEL_OF_KIND",
    "FAN_OUT_ABOVE",
    "FAN_OUT_CHUNK",
    "SEND_BATCH",
    "AckLinkError",
    "Delivery",
    "PageRequest",
    "ReplayedCallback",
    "SlackAckRefused",
    "SweepResult",
    "Target",
    "ack_group",
    "ack_link_resolve",
    "ack_link_use",
    "ack_token",
    "ack_url",
    "call_outcome_record",
    "default_escalation_levels",
    "digests_release",
    "enqueue_on_commit",
    "escalation_for_many",
    "escalation_for_system",
    "escalation_levels_for",
    "escalation_repeats_for",
    "escalations_advance",
    "idempotency_key",
    "may_ack",
    "message_key",
    "messages_send",
    "notices_send",
    "notices_send_many",
    "notification_ack",
    "notification_claim",
    "notification_fall_back",
    "notification_send",
    "notifications_claim",
    "notifications_send",
    "page_ack",
    "page_ack_by_call",
    "page_ack_by_slack",
    "page_ack_by_sms_reply",
    "page_ack_by_user",
    "page_escalate",
    "pages_ack",
    "pages_escalate",
    "pages_open",
    "pages_open_many",
    "pages_stop",
    "retry_delay",
    "rows_insert",
    "stale_enqueue",
    "sweep",
    "targets_for",
]
