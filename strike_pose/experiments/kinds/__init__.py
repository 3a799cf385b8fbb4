"""Study kinds: one module each (landscape, sensitivity, attack, transfer), each registering itself in
strike_pose.experiments.registry; importing this package registers them all. A new kind is one new
module here, listed below."""

# In this order: the report and the listings follow it.
from strike_pose.experiments.kinds import landscape, sensitivity, attack, transfer  # noqa: F401  (registers them)
