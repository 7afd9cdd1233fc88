"""provguard: content provenance (C2PA, invisible watermarks) and deepfake detection."""

from __future__ import annotations

__version__ = "0.1.0"

# The public API. Imported eagerly: binding `sign` and `verify` here, after their modules load, keeps
# `provguard.sign(...)` and `provguard.verify(...)` the functions even once the submodules are imported.
from provguard.errors import ProvguardError  # noqa: E402
from provguard.keys import CallbackSigner, LocalKeySigner  # noqa: E402
from provguard.report import Provenance, Report, WatermarkEvidence  # noqa: E402
from provguard.sign import SignedAsset, sign, sign_bytes  # noqa: E402
from provguard.verify import verify, verify_bytes, verify_many  # noqa: E402

__all__ = [
    "CallbackSigner",
    "LocalKeySigner",
    "Provenance",
    "ProvguardError",
    "Report",
    "SignedAsset",
    "WatermarkEvidence",
    "__version__",
    "sign",
    "sign_bytes",
    "verify",
    "verify_bytes",
    "verify_many",
]
