"""One exception hierarchy for everything provguard raises."""

from __future__ import annotations


class ProvguardError(Exception):
    """Base class of every error provguard raises on purpose."""


class InputError(ProvguardError):
    """A file or value given by the user cannot be used."""


class UnsupportedMediaError(InputError):
    """The content is not a media type provguard handles."""


class CorruptMediaError(InputError):
    """The content claims a media type but cannot be parsed (truncated, malformed, hostile)."""


class MediaTooLargeError(InputError):
    """The content exceeds a size, pixel or duration limit."""


class OutputExistsError(InputError):
    """The output path already exists and overwriting was not asked for."""


class ConfigError(ProvguardError):
    """The provguard configuration or home directory is unusable."""


class CredentialError(ProvguardError):
    """Keys or certificates cannot be created, read or used."""


class CertificateProfileError(CredentialError):
    """A certificate breaks a rule of the C2PA certificate profile."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"certificate breaks the C2PA profile rule '{rule}': {detail}")
        self.rule = rule


class SigningError(ProvguardError):
    """A manifest could not be built or signed."""


class TimestampAuthorityError(SigningError):
    """The timestamp authority could not be reached or refused the request."""


class ManifestError(ProvguardError):
    """A C2PA manifest could not be read."""


class WatermarkError(ProvguardError):
    """A watermark could not be embedded or detected."""


class WeakWatermarkError(WatermarkError):
    """A freshly embedded watermark does not read back, and a readable one was required."""


class StoreError(ProvguardError):
    """The manifest store could not be opened, read or written."""


class ImageTooSmallError(WatermarkError):
    """The image is below the smallest size the image watermark supports."""


class AudioTooShortError(WatermarkError):
    """The audio is shorter than the audio watermark's shortest carrier (provguard.watermark.audio.MIN_SECONDS)."""
