"""A local upstream partner speaking the SMS-Activate handler protocol, with test controls under `/_sim/`.

Start it with `python -m infra.local.simulator --port 8002` or, in tests, `server.start_simulator()`.
"""
