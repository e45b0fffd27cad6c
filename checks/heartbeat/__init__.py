"""Heartbeat checks: wall-clock health of the check cycle and of the model's scoring job.

Pure functions over ``checks.inputs.HeartbeatStats``; ``incidents.heartbeat`` reads the
ops store, builds the stats and runs these specs (``checks.registry.HEARTBEATS``).
"""
