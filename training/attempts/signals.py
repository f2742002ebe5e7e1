"""What the attempts area announces to the areas built on it.

`attempt_sealed` is sent, inside the transaction that seals it, when an attempt is submitted
or finalised at its deadline (arguments: attempt, now). Certification listens to evaluate a
sealed exam; attempts itself never needs to know who listens."""

from django.dispatch import Signal

attempt_sealed = Signal()
