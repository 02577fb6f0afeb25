"""The pure core: no I/O, no framework. Everything here is deterministic given its inputs."""
