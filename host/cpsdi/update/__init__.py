"""Signed field updates of the reader firmware (issue #9): MCUboot-format Ed25519 images of the
application bundle, and the host side of the update channel (``shared/DESIGN.md`` §5)."""
