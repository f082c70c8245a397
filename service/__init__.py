"""REST service: app factory, settings, routers per resource, error mapping, CLI."""
