"""Request and response bodies of the v1 REST API, one module per resource like the routers."""
