"""One module per ANN backend, each registered with `index.registry.register_index`."""
