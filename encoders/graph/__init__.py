"""graph encoder family."""
