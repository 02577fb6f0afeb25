"""Use cases: orchestrate the ports, own transactions and idempotency. No framework imports."""
