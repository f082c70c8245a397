"""mrl encoder family."""
