"""Signed field updates of the reader firmware (issue #9): MCUboot-format Ed25519 images of the
application bundle, and the host side of the update channel (``shared/DESIGN.md`` §5).

Modules: ``image`` (MCUboot image build / inspect / verify, metadata blob), ``bundle`` (mpy-cross
and the bundle format), ``keys`` (Ed25519 key files). Format: docs/update-image.md."""
