"""Offline index builds from files (readers, build pipeline, distributed encoding)."""
