"""moe encoder family."""
