"""HTTP API: create_app, dependencies, error mapping and thin routers."""
