"""provguard: content provenance (C2PA, invisible watermarks) and deepfake detection."""

from __future__ import annotations

__version__ = "0.1.0"
