"""Run events other apps react to, without runs depending on them (the sweep controller
wakes on these). Sent after the change committed; a receiver must not raise."""

from django.dispatch import Signal

# sender=Run; run=<Run>, previous=<status>. After every committed transition.
status_changed = Signal()
# sender=Run; run=<Run>, names=<set of metric names in the batch>. After a batch is stored.
metrics_stored = Signal()
