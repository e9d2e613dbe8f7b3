"""Gurobi licence parameters from the ``gurobi`` credentials, never shown in logs or records."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_LICENCE_FILE_KEYS = ("licensefile", "license_file", "licencefile", "licence_file")

# Licence parameters of ``gurobipy.Env`` accepted from credentials, by lower-case name
# (Gurobi parameter names are case-insensitive; licence files spell them WLSACCESSID).
_LICENCE_PARAMETERS = {
    name.lower(): name
    for name in (
        "WLSAccessID",
        "WLSSecret",
        "LicenseID",
        "WLSToken",
        "WLSTokenDuration",
        "WLSTokenRefresh",
        "ComputeServer",
        "ServerPassword",
        "ServerTimeout",
        "CSPriority",
        "CSRouter",
        "CSGroup",
        "CSTLSInsecure",
        "CSManager",
        "CSAPIAccessID",
        "CSAPISecret",
        "CSAppName",
        "CSAuthToken",
        "UserName",
        "TokenServer",
        "TSPort",
        "CloudAccessID",
        "CloudSecretKey",
        "CloudPool",
        "CloudHost",
    )
}
_LICENCE_FILE = "LicenseFile"
_WLS_TRIPLE = ("WLSAccessID", "WLSSecret", "LicenseID")
# Licence kind by the parameters that mark it, checked in this order.
_KIND_MARKERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("wls", frozenset({"WLSAccessID", "WLSToken"})),
    ("file", frozenset({_LICENCE_FILE})),
    ("compute_server", frozenset({"ComputeServer", "CSManager"})),
    ("token_server", frozenset({"TokenServer"})),
    ("cloud", frozenset({"CloudAccessID"})),
)


@dataclass(frozen=True, eq=False)
class GurobiLicence:
    """Licence parameters for ``gurobipy.Env(params=...)``; their values are never shown.

    Built from the ``gurobi`` credentials of a Kedro environment. Empty parameters mean
    gurobipy's own licence search: by default the size-limited licence of the pip
    package (``kind == "pip"``). ``repr`` and :meth:`describe` name the kind and the
    parameter names only, so a licence can be logged; :meth:`mask` removes the values
    from any text (solver messages) before it is logged or written.

    Kinds: ``"pip"`` (no parameters), ``"wls"`` (Web License Service: ``WLSAccessID``,
    ``WLSSecret`` and ``LicenseID`` together, or a ``WLSToken``), ``"file"``
    (``LicenseFile``: a ``gurobi.lic`` path, set as ``GRB_LICENSE_FILE`` while the
    environment starts), ``"compute_server"``, ``"token_server"``, ``"cloud"``, or
    ``"custom"`` (other licence parameters alone).

    Raises:
        ValueError: an unknown parameter name, an empty value, an incomplete WLS triple,
            a non-integer ``LicenseID``, or a licence file mixed with other parameters.
    """

    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.parameters, Mapping):
            raise ValueError(
                "the gurobi credentials must be a mapping of Gurobi licence parameters "
                f"(e.g. WLSACCESSID, WLSSECRET, LICENSEID), got {type(self.parameters).__name__}"
            )
        canonical: dict[str, Any] = {}
        for key, value in self.parameters.items():
            name = (
                _LICENCE_FILE if str(key).lower() in _LICENCE_FILE_KEYS else _LICENCE_PARAMETERS.get(str(key).lower())
            )
            if name is None:
                raise ValueError(
                    f"unknown Gurobi licence parameter {key!r} in the gurobi credentials; expected "
                    f"{_LICENCE_FILE} or one of {sorted(_LICENCE_PARAMETERS.values())}"
                )
            if name in canonical:
                raise ValueError(f"Gurobi licence parameter {name} is given twice in the gurobi credentials")
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ValueError(
                    f"Gurobi licence parameter {name} is empty in the gurobi credentials: fill it in "
                    "or remove the gurobi entry to use the pip licence"
                )
            canonical[name] = os.fspath(value) if name == _LICENCE_FILE else value
        if "LicenseID" in canonical:
            licence_id = canonical["LicenseID"]
            if isinstance(licence_id, str) and licence_id.strip().isdigit():
                licence_id = int(licence_id)
            if isinstance(licence_id, bool) or not isinstance(licence_id, int) or licence_id <= 0:
                raise ValueError(
                    "Gurobi licence parameter LicenseID must be a positive integer (the WLS licence number)"
                )
            canonical["LicenseID"] = licence_id
        wls = [name for name in _WLS_TRIPLE if name in canonical]
        if wls and "WLSToken" not in canonical and len(wls) < len(_WLS_TRIPLE):
            missing = [name for name in _WLS_TRIPLE if name not in canonical]
            raise ValueError(
                f"a WLS licence needs WLSAccessID, WLSSecret and LicenseID together; the gurobi "
                f"credentials lack {', '.join(missing)}"
            )
        if _LICENCE_FILE in canonical and len(canonical) > 1:
            raise ValueError(
                f"the gurobi credentials give {_LICENCE_FILE} and {sorted(set(canonical) - {_LICENCE_FILE})}: "
                "a licence file already holds its parameters; keep one of the two"
            )
        object.__setattr__(self, "parameters", canonical)

    @property
    def kind(self) -> str:
        """``pip``, ``wls``, ``file``, ``compute_server``, ``token_server`` or ``cloud``."""
        names = set(self.parameters)
        if not names:
            return "pip"
        return next((kind for kind, markers in _KIND_MARKERS if names & markers), "custom")

    def env_params(self) -> dict[str, Any]:
        """A copy of the parameters for ``gurobipy.Env(params=...)`` (secrets included)."""
        return dict(self.parameters)

    def describe(self) -> dict[str, Any]:
        """Kind and parameter names, without values: safe to log."""
        return {"kind": self.kind, "parameters": sorted(self.parameters)}

    def mask(self, text: str) -> str:
        """``text`` with every string value of the licence replaced by ``***``."""
        for value in sorted((str(v) for v in self.parameters.values() if isinstance(v, str)), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return f"GurobiLicence(kind={self.kind!r}, parameters={sorted(self.parameters)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GurobiLicence) and self.parameters == other.parameters

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.parameters)))
